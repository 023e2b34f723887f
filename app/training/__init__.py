"""The training panel: launch pretraining and fine-tuning as separate processes, follow them,
and manage the local model registry. Never imports ``volta_core.train``: training runs in its
own process (``volta-studio --volta-cli finetune ...``)."""
