"""Visual quality control and cohort reports, without torch or Qt (numpy, matplotlib, stdlib).

Entry points (import the submodule you need; this package imports nothing heavy itself):

- :func:`volta_core.report.qc.write_scan_qc`: one scan's QC picture (PNG) through each hippocampus;
- :func:`volta_core.report.gallery.write_gallery`: the cohort's offline HTML gallery, where a
  reviewer marks each scan pass/fail and exports ``qc_marks.tsv``;
- :func:`volta_core.report.gallery.read_marks`: that TSV read back;
- :func:`volta_core.report.group_report.write_group_report`: plots of volumes and HOC against ICV,
  sex and age, and the outlier list, as HTML and PDF.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through
``pyplot``, so no display and no global backend switch are involved.
"""
