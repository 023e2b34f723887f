"""Tiny configurations shared by the training tests (32^3 volumes, patch 8, embed 32, depth 2)."""

from __future__ import annotations

from volta_core.config import FinetuneConfig, PretrainConfig, load_config

ENCODER = "model.overrides={patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, out_indices: [1, 2]}"
PRETRAIN = [
    "data.size=32", ENCODER, "ssl.model_kwargs={head_out_dim: 64, head_hidden_dim: 64, head_bottleneck_dim: 32}",
    "batch_size=2", "synthetic_subjects=4", "device=cpu", "threads=1", "optim.warmup_steps=2",
    "ssl.teacher_temp_warmup_steps=2", "checkpoint_every=1000", "steps=6",
]
SEG_ENCODER = "model.overrides={patch_size: 8, embed_dim: 32, depth: 2, num_heads: 2, out_indices: [1, 2, 2]}"
FINETUNE = [
    "data.size=32", "data.spacing=2.5", "device=cpu", "threads=1", "val_fraction=0", "augment=false",
    "optim.warmup_steps=2", "layer_decay=1.0", "min_per_class=1", "checkpoint_every=1000", "seg_feature_size=8",
]


def pretrain_cfg(*extra: str) -> PretrainConfig:
    return load_config(PretrainConfig, None, [*PRETRAIN, *extra])


def finetune_cfg(data, task: str, *extra: str) -> FinetuneConfig:
    cfg = load_config(FinetuneConfig, None, [*FINETUNE, SEG_ENCODER if task == "seg" else ENCODER, f"task={task}", *extra])
    cfg.data_path = str(data)
    return cfg


def step_losses(events, key: str = "loss") -> dict[int, float]:
    return {e["step"]: e[key] for e in events if e["event"] == "step"}
