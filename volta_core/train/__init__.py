"""Training: pretraining and fine-tuning loops, metrics, checkpoints, events, distributed setup.

Library code raises typed errors; only ``volta_core.cli`` turns them into exit codes.
Entry points: :func:`volta_core.train.pretrain.run_pretraining`,
:func:`volta_core.train.finetune.run_finetune`, :func:`volta_core.train.evaluate_bundle.evaluate_bundle`.
"""

from __future__ import annotations
