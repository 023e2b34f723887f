"""``volta predict BIDS_DIR OUT_DIR participant|group``: the BIDS-Apps calling convention.

- :mod:`.scans` finds the T1w scans of a BIDS dataset (with the label filters);
- :mod:`.shard` splits them between SLURM array tasks, ``--shard K/N`` and torchrun ranks;
- :mod:`.derivatives` writes the BIDS-derivatives files of one scan;
- :mod:`.participant` runs the model on this shard's scans (one record per scan);
- :mod:`.group` merges every record with ``participants.tsv`` into ``volumes.tsv`` and the QC pages.

Nothing here imports torch at module level: the participant stage reads its first scan while
torch is still being imported.
"""
