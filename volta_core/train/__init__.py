"""Training: pretraining and fine-tuning on one loop, metrics, checkpoints, events, distributed setup.

:mod:`~volta_core.train.loop` is the optimizer-step loop both run (accumulation, autocast,
GradScaler, events, checkpoints, stop requests); :mod:`~volta_core.train.session` sets a run up and
reports its faults; ``pretrain.py`` and ``finetune.py`` add what is their own.

Library code raises typed errors; only ``volta_core.cli`` turns them into exit codes.
Entry points: :func:`volta_core.train.pretrain.run_pretraining`,
:func:`volta_core.train.finetune.run_finetune`, :func:`volta_core.train.evaluate_bundle.evaluate_bundle`.
"""

from __future__ import annotations
