"""Self-supervised VolTA-3D pretraining (resumable, stoppable, distributed).

Per optimizer step ``t``: lr / weight decay (warm-up + cosine), teacher momentum (cosine to 1)
and teacher temperature (linear warm-up) come from ``CosineScheduler``s indexed by ``t``;
``accumulation`` micro-batches are summed before one AdamW step with gradient clipping (the
shared loop, :mod:`volta_core.train.loop`); the teacher is then updated by EMA and watched for
collapse (:class:`PretrainTask`). Progress goes out as JSON-lines events (:mod:`volta_core.contracts.events`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from volta_core.config import PretrainConfig, to_dict
from volta_core.contracts.model_card import DEFAULT_LABELS, ModelCard
from volta_core.data.collate import SSLCollate
from volta_core.data.datasets import (
    MixedVolumes,
    PreloadedVolumes,
    PreparedVolumes,
    PretrainDataset,
    SyntheticVolumes,
)
from volta_core.data.manifest import index_dataset
from volta_core.data.prepare import card_input, size3
from volta_core.data.synth.volumes import SynthVolumes, synth_volumes
from volta_core.data.views import MultiViewCrop
from volta_core.model.bundle import save_bundle
from volta_core.model.ssl import (
    CosineScheduler,
    VoltaSSL,
    VoltaSSLConfig,
)
from volta_core.model.vit3d import build_encoder
from volta_core.train import distributed as D
from volta_core.train.collapse import CollapseGuard, TeacherCollapsedError
from volta_core.train.device import choose_precision
from volta_core.train.engine import make_schedules, make_stream, restore_checkpoint
from volta_core.train.events import EventLog, read_events
from volta_core.train.loop import LoopTask, TrainingLoop, make_optimisation
from volta_core.train.provenance import dataset_kind, records_fingerprint
from volta_core.train.run_folder import RunFolder, code_version
from volta_core.train.session import open_run
from volta_core.train.stopping import StopRequested
from volta_core.train.task_models import load_pretrained_encoder

LOSS_KEYS = ("loss", "loss_global", "loss_local", "loss_recon")
DIAGNOSTIC_KEYS = ("teacher_entropy", "teacher_diversity", "teacher_feature_dim", "teacher_patch_entropy",
                   "mask_ratio", "loss_koleo", "student_feature_dim")


@dataclass
class RunResult:
    """How a run ended."""

    status: str  # "finished" | "stopped"
    step: int
    run_dir: Path
    checkpoint: Path | None
    last_losses: dict[str, float]


def build_ssl_model(cfg: PretrainConfig) -> VoltaSSL:
    """Student/teacher meta-architecture for the config (encoder sized for ``data.size``)."""
    overrides = {"img_size": list(size3(cfg.data.size)), **cfg.model.overrides}
    encoder = build_encoder(cfg.model.encoder, **overrides)
    ssl_cfg = VoltaSSLConfig(encoder=cfg.model.encoder, encoder_overrides=overrides)
    return VoltaSSL(encoder, ssl_cfg, **cfg.ssl.model_kwargs)


def build_volumes(cfg: PretrainConfig, run: RunFolder | None = None,
                  log: Any = None) -> PreparedVolumes | SyntheticVolumes | SynthVolumes | MixedVolumes:
    """Images of ``data_path`` (BIDS or manifest), synthetic brains (``synth.subset``) or toy heads.

    With both ``data_path`` and ``synth.subset``, the real scans are prepared once (cached in the
    run folder) and mixed into the synthetic stream at ``real_fraction``.
    """
    if cfg.synth.subset:
        synthetic = synth_volumes(cfg.synth, cfg.data, with_masks=False)
        if not cfg.data_path:
            return synthetic
        real = _real_volumes(cfg)
        key = json.dumps({"data": records_fingerprint(real.records), "spec": to_dict(cfg.data)}, sort_keys=True)

        def progress(i: int, n: int) -> None:
            if log is not None and (i == n or i % 10 == 0):
                log.info("prepared %d/%d real scans on the model's view", i, n)

        preloaded = PreloadedVolumes(real, cache=run.root / "real_views.npz" if run is not None else None,
                                     key=key, progress=progress)
        return MixedVolumes(synthetic, preloaded, real_fraction=cfg.real_fraction, seed=cfg.seed)
    if not cfg.data_path:
        # the toy heads span ~180 mm: never sample them finer than needed to fit the crop
        size = max(size3(cfg.data.size))
        spacing = max(cfg.data.spacing, 200.0 / size)
        return SyntheticVolumes(cfg.synthetic_subjects, size=size, spacing=spacing, seed=cfg.seed)
    return _real_volumes(cfg)


def _real_volumes(cfg: PretrainConfig) -> PreparedVolumes:
    ds = index_dataset(cfg.data_path)
    if not ds.records:
        raise ValueError(f"no T1w images found in {cfg.data_path}")
    return PreparedVolumes(ds.records, spacing=cfg.data.spacing, size=cfg.data.size,
                           normalisation=cfg.data.normalisation, cache=cfg.data.cache,
                           space=cfg.data.space, roi=cfg.data.roi)


def run_pretraining(cfg: PretrainConfig, run_dir: str | Path, *, resume: bool = False,
                    stream: TextIO | None = sys.stdout) -> RunResult:
    """Pretrain an encoder with the VolTA objective; writes a run folder.

    Raises:
        NonFiniteLossError: a loss became NaN/Inf (a ``failed`` event is emitted first).
        TeacherCollapsedError: the DINO teacher collapsed and ``ssl.collapse_action=stop``
            (a checkpoint and a ``failed`` event are written first).
        CheckpointError, ValueError, DeviceError: user-fixable problems, with messages.
        TrainingOutOfMemoryError, DiskFullError, EventWriteError: out of memory, disk full
            (:mod:`volta_core.train.faults`); a ``failed`` event is emitted first.
    """
    try:
        with open_run(cfg, run_dir, resume=resume, stream=stream, name="pretrain") as s:
            return _train(cfg, s.run, s.info, s.device, s.events, s.log, resume)
    except StopRequested:  # a signal during set-up: the stopped event is out, nothing to save
        run = RunFolder(Path(run_dir))
        return RunResult("stopped", 0, run.root, run.checkpoint if run.checkpoint.is_file() else None, {})


def _train(cfg: PretrainConfig, run: RunFolder, info: D.DistInfo, device: torch.device,
           events: EventLog, log: Any, resume: bool) -> RunResult:
    torch.manual_seed(cfg.seed)
    precision = choose_precision(device, cfg.precision)
    model = build_ssl_model(cfg).to(device)
    patch = model.student_encoder.patch_size
    dataset = PretrainDataset(build_volumes(cfg, run, log), MultiViewCrop(cfg.data.size, (cfg.ssl.min_crop_scale, 1.0)),
                              seed=cfg.seed)
    batches = make_stream(dataset, batch_size=cfg.batch_size, info=info, seed=cfg.seed,
                          num_workers=D.loader_workers(cfg.data.num_workers, device, info.world_size),
                          collate_fn=SSLCollate(patch, cfg.ssl.mask_ratio, cfg.ssl.max_block_patches))
    opt = make_optimisation(model, cfg.optim, precision, device)
    total = cfg.steps
    sched = make_schedules(cfg.optim.lr, cfg.optim.min_lr, cfg.optim.weight_decay, cfg.optim.weight_decay_end,
                           cfg.optim.warmup_steps, total)
    sched.extra["momentum"] = CosineScheduler(cfg.ssl.momentum_start, cfg.ssl.momentum_end, total)
    warm = min(cfg.ssl.teacher_temp_warmup_steps, total - 1 if total > 1 else 0)
    sched.extra["teacher_temp"] = CosineScheduler(cfg.ssl.teacher_temp_end, cfg.ssl.teacher_temp_end, total,
                                                  warmup_iters=warm, start_warmup=cfg.ssl.teacher_temp_start)
    step = 0
    resumed = False
    if resume and run.checkpoint.exists():
        step = int(restore_checkpoint(run.checkpoint, model, opt.optimizer, opt.scaler, device)["step"])
        resumed = True
    elif cfg.init:  # continued pretraining: student and teacher both start from that encoder
        n = load_pretrained_encoder(model.student_encoder, cfg.init)
        model.teacher_encoder.load_state_dict(model.student_encoder.state_dict())
        log.info("encoder initialised from %s (%d tensors)", cfg.init, n)
    ddp = D.wrap_ddp(model, device, info)
    events.emit("started", kind="pretrain", step=step, total_steps=total, resumed=resumed, device=str(device),
                precision=precision.name, world_size=info.world_size, config=to_dict(cfg))
    log.info("pretraining %s on %s (world %d) from step %d/%d", cfg.model.encoder, device, info.world_size, step, total)
    task = PretrainTask(cfg, model, info, log)
    loop = TrainingLoop(task, model, ddp, opt, precision, sched, batches, run, info, device, events, log, total,
                        cfg.optim.accumulation, cfg.optim.grad_clip, cfg.batch_size, cfg.log_every,
                        cfg.checkpoint_every, step=step)
    try:
        end = loop.run()
    except TeacherCollapsedError as exc:
        events.emit("failed", step=loop.step, epoch=loop.epoch, error=type(exc).__name__, message=str(exc))
        log.error("stopped at step %d: %s", loop.step, exc)
        _write_weight_hash(run, info, model)
        raise
    if end.status == "stopped":
        return RunResult("stopped", end.step, run.root, end.checkpoint, task.last)
    _write_weight_hash(run, info, model)
    if info.is_main:
        _write_encoder_bundle(cfg, run, model, task.last, len(dataset), dataset)
    events.emit("finished", step=end.step, epoch=end.epoch, path=run.checkpoint, bundle=run.bundle, **task.last)
    log.info("finished at step %d", end.step)
    return RunResult("finished", end.step, run.root, end.checkpoint, task.last)


class PretrainTask(LoopTask):
    """The VolTA objective in the shared loop: EMA teacher after each step, collapse watch."""

    def __init__(self, cfg: PretrainConfig, model: VoltaSSL, info: D.DistInfo, log: Any) -> None:
        self.cfg, self.model, self.info, self.log = cfg, model, info, log
        self.guard = (CollapseGuard(model.dino_loss.out_dim, patience=cfg.ssl.collapse_patience)
                      if cfg.ssl.collapse_action != "off" else None)
        self.last: dict[str, float] = {}  # the terms of the latest step

    def loss(self, model: torch.nn.Module, batch: dict[str, Any],
             values: dict[str, float]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = model(batch, values["teacher_temp"])
        return out["loss"], {k: out[k] for k in LOSS_KEYS + DIAGNOSTIC_KEYS if k in out}

    def after_optimizer_step(self, values: dict[str, float]) -> None:
        self.model.update_teacher(values["momentum"])

    def before_report(self, loop: TrainingLoop, terms: dict[str, float]) -> None:
        self.last = terms
        if self.guard is None or "teacher_diversity" not in terms:
            return
        collapsed = self.guard.update(loop.step, terms["teacher_entropy"], terms["teacher_diversity"])
        if collapsed:
            loop.events.emit("warning", step=loop.step, epoch=loop.epoch, kind="teacher_collapse", message=collapsed)
            self.log.warning(collapsed)
        if self.cfg.ssl.collapse_action == "stop" and D.any_rank(collapsed is not None, self.info):
            loop.save()
            raise TeacherCollapsedError(collapsed or "the teacher collapsed on another rank")

    def after_report(self, loop: TrainingLoop, terms: dict[str, float], values: dict[str, float],
                     reported: bool) -> None:
        if reported:
            self.log.info("step %d/%d loss %.5f (global %.4f local %.4f recon %.4f) lr %.2e", loop.step, loop.total,
                          terms["loss"], terms["loss_global"], terms["loss_local"], terms["loss_recon"], values["lr"])

    def on_stop(self, loop: TrainingLoop, reason: str | None) -> None:
        self.log.info("stopped at step %d (%s)", loop.step, reason)
        _write_weight_hash(loop.run_folder, self.info, self.model)


def _source(cfg: PretrainConfig, dataset: Any) -> dict[str, Any]:
    """The card's description of the images: kind, counts and a content hash, never a path."""
    if cfg.synth.subset:
        synthetic = (f"synthetic brains from the '{cfg.synth.subset}' label maps ({cfg.synth.mode}, "
                     f"{cfg.synth.n_train} samples, seed {cfg.synth.seed})")
        if not cfg.data_path:
            return {"source": synthetic}
        records = dataset.volumes.real.records  # the scans indexed at the start, not a second index
        return {"source": f"{synthetic}, with {cfg.real_fraction:.0%} of samples real unlabelled scans "
                          f"({dataset_kind(cfg.data_path)})", **records_fingerprint(records, prefix="real_")}
    if not cfg.data_path:
        return {"source": f"synthetic toy heads ({cfg.synthetic_subjects})"}
    records = getattr(getattr(dataset, "volumes", None), "records", None) or []
    return {"source": dataset_kind(cfg.data_path), **records_fingerprint(records)}


def _write_encoder_bundle(cfg: PretrainConfig, run: RunFolder, model: VoltaSSL, last: dict[str, float],
                          n_volumes: int, dataset: Any = None) -> None:
    """``run/bundle``: the EMA teacher encoder (the one to fine-tune from), no trained heads."""
    encoder = model.teacher_encoder
    card = ModelCard(
        name=f"volta3d-{cfg.model.encoder}-pretrained",
        architecture={"encoder": cfg.model.encoder, "overrides": dict(encoder.config), "model": "encoder"},
        input=card_input(spacing=cfg.data.spacing, size=cfg.data.size, normalisation=cfg.data.normalisation,
                         space=cfg.data.space, roi=cfg.data.roi),
        heads={name: {"trained": False, "labels": dict(labels)} for name, labels in DEFAULT_LABELS.items()},
        training_data={**_source(cfg, dataset),
                       "n_volumes": n_volumes, "steps": cfg.steps, "objective": "VolTA (global + masked local + recon)"},
        metrics={**{k: float(v) for k, v in last.items()},
                 "protocol": "self-supervised losses of the last training step; no downstream evaluation",
                 "training_curve": training_curve(run.metrics)},
        code_version=code_version(),
    )
    save_bundle(run.bundle, {f"encoder.{k}": v for k, v in encoder.state_dict().items()}, card)


CURVE_KEYS = ("loss", "loss_global", "loss_local", "loss_recon", "teacher_entropy", "teacher_diversity",
              "teacher_feature_dim", "loss_koleo")


def training_curve(metrics: str | Path, points: int = 50) -> dict[str, Any]:
    """The loss and the teacher's diversity/entropy over the run, at about ``points`` steps.

    Each point is the mean of the logged steps in its bin, so the card shows whether the run
    learned (losses down) and did not collapse (diversity well above zero; see
    :mod:`volta_core.train.collapse`), without the whole log.
    """
    steps = [e for e in read_events(metrics) if e.get("event") == "step" and "teacher_diversity" in e]
    if not steps:
        return {"step": []}
    edges = np.linspace(0, len(steps), min(points, len(steps)) + 1).astype(int)
    bins = [steps[a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]
    curve: dict[str, Any] = {"step": [int(b[-1]["step"]) for b in bins]}
    for key in CURVE_KEYS:
        if all(key in e for e in steps):
            curve[key] = [round(float(np.mean([e[key] for e in b])), 4) for b in bins]
    return curve


def weights_sha256(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer (name, dtype, shape, bytes) in sorted order."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _write_weight_hash(run: RunFolder, info: D.DistInfo, model: torch.nn.Module) -> None:
    """Each rank writes ``rank{r}_weights.sha256`` so replicas can be checked for equality."""
    if info.enabled:
        (run.root / f"rank{info.rank}_weights.sha256").write_text(weights_sha256(model) + "\n")
