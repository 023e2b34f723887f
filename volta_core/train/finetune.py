"""Supervised fine-tuning: hippocampus segmentation (``seg``) or classification (``sex``, ``ad``).

The dataset is validated first and the run refuses to start with the full problem list. The
loop is pretraining's (:mod:`volta_core.train.loop`: per-step warm-up + cosine lr/wd, AdamW,
clipping, accumulation, exact resume, STOP/SIGTERM, JSON events); :class:`FinetuneTask` adds the
task's loss, epochs and evaluations, and the run writes a model bundle at the end.
Losses: seg = cross-entropy + soft Dice (labels 1, 2); classification = class-weighted CE.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from volta_core.config import FinetuneConfig, init_card, to_dict
from volta_core.contracts.model_card import BundleError, ModelCard
from volta_core.contracts.prediction import segmented_structures
from volta_core.data.augment import supervised_augmentations
from volta_core.data.collate import supervised_collate
from volta_core.data.datasets import PreparedVolumes, SupervisedDataset
from volta_core.data.labels import LABEL_NAMES
from volta_core.data.prepare import card_input
from volta_core.data.records import SampleRecord
from volta_core.data.synth.volumes import SynthVolumes, synth_volumes
from volta_core.data.validate import ValidationReport, mask_structures, seg_structures, validate_dataset
from volta_core.model.bundle import save_bundle
from volta_core.model.optim_groups import freeze_encoder
from volta_core.train import distributed as D
from volta_core.train.cv import subject_kfold
from volta_core.train.device import choose_precision
from volta_core.train.engine import make_schedules, make_stream, restore_checkpoint
from volta_core.train.evaluation import evaluate_model
from volta_core.train.events import EventLog
from volta_core.train.loop import LoopTask, TrainingLoop, make_optimisation
from volta_core.train.provenance import dataset_kind, init_summary, records_fingerprint
from volta_core.train.run_folder import RunFolder, code_version
from volta_core.train.session import open_run
from volta_core.train.stopping import StopRequested
from volta_core.train.task_models import (
    StartingHeads,
    build_task_model,
    card_heads,
    init_encoder,
    init_task_head,
    kept_heads,
    multitask_bundle,
    starting_heads,
)


class DatasetInvalidError(ValueError):
    """The dataset has problems; ``report`` lists every one of them."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__("the dataset cannot be used for fine-tuning:\n" + report.summary())


@dataclass
class FinetuneResult:
    """How a fine-tuning run ended and what it measured."""

    status: str  # "finished" | "stopped"
    step: int
    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    bundle: Path | None = None
    losses: list[float] = field(default_factory=list)


def task_records(report: ValidationReport, task: str) -> list[SampleRecord]:
    """Records usable for a task (MCI and unlabelled subjects are left out of ``sex``/``ad``)."""
    assert report.dataset is not None
    recs = report.dataset.records
    if task == "seg":
        return [r for r in recs if r.mask is not None]
    if task == "sex":
        return [r for r in recs if r.sex in LABEL_NAMES["sex"]]
    return [r for r in recs if r.diagnosis in LABEL_NAMES["ad"]]


def split_records(records: list[SampleRecord], task: str, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Subject-level train/validation split (fold 0 of a stratified k-fold, k = 1/val_fraction)."""
    subjects = len({r.subject for r in records})
    if val_fraction <= 0 or subjects < 2:
        return list(range(len(records))), []
    # a small lab set (a few corrected scans) holds out one subject rather than refusing to split
    k = min(subjects, max(2, int(round(1.0 / val_fraction))))
    labels = None if task == "seg" else [r.sex if task == "sex" else r.diagnosis for r in records]
    fold = subject_kfold([r.subject for r in records], k, seed=seed, labels=labels)[0]
    return fold.train, fold.val


def seg_loss(logits: torch.Tensor, target: torch.Tensor, annotated: int | None = None,
             start_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy + soft Dice over the foreground labels. logits (B,C,D,H,W), target (B,D,H,W).

    ``annotated`` < C: the masks label only the first ``annotated`` classes (background, then the
    structures they hold; classes are numbered structure by structure). The other classes are part of
    what the masks call background, so the loss is the marginal one (Shi et al., MedIA 2021): their
    probabilities are added to the background's, and the model is neither taught nor penalised to
    tell them from background; only the annotated structures are scored by the Dice term.

    ``start_logits`` (the starting model's, same shape): the marginal loss alone lets the unlabelled
    structures drift into background unopposed, so where the masks say background the model also
    keeps the starting model's split of it (background vs each unlabelled structure): the KL
    divergence of the two conditional distributions over that group, as in "learning without
    forgetting" (Li & Hoiem, 2017)."""
    full = F.log_softmax(logits.float(), dim=1)
    logp = full
    n = logits.shape[1] if annotated is None else int(annotated)
    keep = logits.new_zeros((), dtype=torch.float32)
    if n < logits.shape[1]:
        background = torch.logsumexp(torch.cat([full[:, :1], full[:, n:]], dim=1), dim=1, keepdim=True)
        logp = torch.cat([background, full[:, 1:n]], dim=1)
        if start_logits is not None:
            group = [0, *range(n, logits.shape[1])]
            mine = F.log_softmax(logits.float()[:, group], dim=1)
            theirs = F.log_softmax(start_logits.float()[:, group], dim=1)
            kl = (theirs.exp() * (theirs - mine)).sum(dim=1)  # (B, D, H, W)
            where = (target == 0).float()
            keep = (kl * where).sum() / where.sum().clamp(min=1.0)
    ce = F.nll_loss(logp, target)
    probs = logp.exp()
    onehot = F.one_hot(target, n).permute(0, 4, 1, 2, 3).float()
    dims = (0, 2, 3, 4)
    inter = (probs * onehot).sum(dims)[1:]
    denom = probs.sum(dims)[1:] + onehot.sum(dims)[1:]
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return ce + (1.0 - dice).mean() + keep


def start_structures(init: str | Path) -> list[str]:
    """The structures the starting model's segmentation head segments (``[]``: none, or no start)."""
    card = init_card(init) if init else None
    if card is None or not ((card.get("heads") or {}).get("segmentation") or {}).get("trained"):
        return []
    try:
        n = ModelCard.from_dict(card).segmentation_classes
    except BundleError:
        return []
    return segmented_structures(n) if n >= 3 else []


def class_weights(labels: list[int], n_classes: int = 2) -> torch.Tensor:
    """Inverse-frequency weights ``n / (k * count_c)`` (balanced cross-entropy)."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = 1.0
    return torch.tensor(len(labels) / (n_classes * counts), dtype=torch.float32)


def run_finetune(cfg: FinetuneConfig, run_dir: str | Path, *, resume: bool = False,
                 stream: TextIO | None = sys.stdout, split: tuple[list[int], list[int]] | None = None) -> FinetuneResult:
    """Fine-tune for ``cfg.task`` on ``cfg.data_path``; writes a run folder with ``bundle/``.

    Args:
        cfg: resolved config.
        run_dir: run folder.
        resume: continue from ``checkpoints/last.pt``.
        stream: where events are printed (``None``: only ``metrics.jsonl``).
        split: explicit ``(train, val)`` indices into the task's records (cross-validation).

    Raises:
        DatasetInvalidError: the dataset failed validation (every problem in the message).
        TrainingDivergedError: a loss became NaN/Inf.
        CheckpointError, TrainingOutOfMemoryError, DiskFullError, EventWriteError: a damaged
            checkpoint, out of memory, disk full; a ``failed`` event is emitted first.
    """
    try:
        return _run_finetune(cfg, run_dir, resume, stream, split)
    except StopRequested:  # a signal during set-up: the stopped event is out, nothing to save
        return FinetuneResult("stopped", 0, Path(run_dir))


def _run_finetune(cfg: FinetuneConfig, run_dir: str | Path, resume: bool, stream: TextIO | None,
                  split: tuple[list[int], list[int]] | None) -> FinetuneResult:
    with open_run(cfg, run_dir, resume=resume, stream=stream, name="finetune") as s:
        if cfg.synth.subset:
            data = synth_data(cfg)
        else:
            report = validate_dataset(cfg.data_path, cfg.task, min_per_class=cfg.min_per_class)
            if not report.ok:
                err = DatasetInvalidError(report)
                s.events.emit("failed", step=0, error=type(err).__name__, message=str(err),
                              problems=[p.__dict__ for p in report.problems])
                s.log.error("%s", err)
                raise err
            annotated = None
            if cfg.task == "seg" and list(cfg.synth.structures) == ["hippocampus"]:
                # real masks: the classes follow them (a lab set corrected from a model that segments
                # the amygdala and the ventricle keeps them, and so does the model fine-tuned on it)
                found = mask_structures(report.mask_labels)
                cfg.synth.structures, annotated = seg_structures(found, start_structures(cfg.init))
                if annotated is not None:
                    s.log.info("the masks hold %s only; the starting model also segments %s: it keeps them "
                               "(marginal loss, and the starting model's answer kept where the masks say "
                               "background)",
                               ", ".join(found), ", ".join(cfg.synth.structures[len(found):]))
                elif found != ["hippocampus"]:
                    s.log.info("the masks hold %s: the model segments them", ", ".join(found))
            data = dataset_data(cfg, report, split, annotated)
        return _train(cfg, s.run, s.info, s.device, s.events, s.log, resume, data)


@dataclass
class TrainingData:
    """What a fine-tuning run trains and evaluates on, and how the model card describes it."""

    train: PreparedVolumes | SynthVolumes
    val: PreparedVolumes | SynthVolumes | None
    summary: dict[str, Any]
    #: the structures the masks label when they are fewer than the model segments (marginal loss)
    annotated: list[str] | None = None

    def card_summary(self) -> dict[str, Any]:
        """``summary`` plus the content hashes of the dataset's files (computed now, at the end of
        training, so that set-up and a resume do not read every file once more)."""
        out = dict(self.summary)
        for prefix, volumes in (("train_", self.train), ("val_", self.val)):
            if isinstance(volumes, PreparedVolumes) and volumes.records:
                out.update(records_fingerprint(volumes.records, prefix=prefix))
        return out


def dataset_data(cfg: FinetuneConfig, report: ValidationReport,
                 split: tuple[list[int], list[int]] | None = None,
                 annotated: list[str] | None = None) -> TrainingData:
    """Train/validation volumes of a validated BIDS folder or manifest (subject-level split)."""
    records = task_records(report, cfg.task)
    train_idx, val_idx = split or split_records(records, cfg.task, cfg.val_fraction, cfg.seed)

    def volumes(idx: list[int]) -> PreparedVolumes:
        return PreparedVolumes([records[i] for i in idx], spacing=cfg.data.spacing, size=cfg.data.size,
                               normalisation=cfg.data.normalisation, with_masks=cfg.task == "seg",
                               cache=cfg.data.cache, space=cfg.data.space, roi=cfg.data.roi)

    # counts and content hashes only: subject IDs and paths never go into a model card
    summary = {"source": dataset_kind(cfg.data_path), "n_train": len(train_idx), "n_val": len(val_idx),
               "class_counts": report.class_counts}
    if annotated is not None:
        summary["masks_annotate"] = list(annotated)
        summary["loss"] = ("marginal: the masks label " + ", ".join(annotated) + " only; the model's other "
                           "structures count as background in the loss and are not scored, and where the masks "
                           "say background the starting model's split between background and those structures "
                           "is kept (distillation)")
    return TrainingData(volumes(train_idx), volumes(val_idx) if val_idx else None, summary, annotated)


def synth_data(cfg: FinetuneConfig) -> TrainingData:
    """Synthetic brains with hippocampus labels (``cfg.synth``; segmentation only)."""
    if cfg.task != "seg":
        raise ValueError("synthetic data carry hippocampus labels only: use them with --task seg")
    if cfg.data_path:
        raise ValueError("set either data_path or synth.subset, not both")
    train = synth_volumes(cfg.synth, cfg.data, split="train")
    val = synth_volumes(cfg.synth, cfg.data, split="val") if cfg.synth.n_val > 0 else None
    synth = to_dict(cfg.synth)
    if cfg.synth.label_maps:  # a folder on the build machine: its content, never its path, goes into the card
        from volta_core.data.real_data import check_label_maps

        report = check_label_maps(cfg.synth.label_maps)
        synth["label_maps"] = {"maps": len(report.files), "names_and_sizes_sha256": report.digest}
    summary = {"source": f"synthetic brains from the '{cfg.synth.subset}' label maps "
                         f"(volta_core.data.synth, {cfg.synth.mode} mode, seed {cfg.synth.seed})",
               "n_train": len(train), "n_val": len(val) if val is not None else 0,
               "synth": synth}
    return TrainingData(train, val, summary)


#: Without a validation split the run reports metrics on the training set: on at most this many
#: of its samples (the first ones, always the same), not on thousands of synthetic brains.
TRAIN_EVAL_LIMIT = 64


class FirstSamples:
    """The first ``n`` samples of a volume set, otherwise the same object (records, spacing...)."""

    def __init__(self, volumes: Any, n: int) -> None:
        self.volumes, self.n = volumes, min(n, len(volumes))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.n:
            raise IndexError(index)
        return self.volumes[index]

    @property
    def records(self) -> Any:
        return self.volumes.records[: self.n]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.volumes, name)


def _train(cfg: FinetuneConfig, run: RunFolder, info: D.DistInfo, device: torch.device, events: EventLog,
           log: Any, resume: bool, data: TrainingData) -> FinetuneResult:
    torch.manual_seed(cfg.seed)
    precision = choose_precision(device, cfg.precision)
    seg = cfg.task == "seg"
    train_ds = SupervisedDataset(data.train, cfg.task,  # type: ignore[arg-type]
                                 supervised_augmentations() if cfg.augment else None, seed=cfg.seed)
    eval_volumes = data.val if data.val is not None else FirstSamples(data.train, TRAIN_EVAL_LIMIT)
    eval_ds = SupervisedDataset(eval_volumes, cfg.task)  # type: ignore[arg-type]
    eval_split = "val" if data.val is not None else "train"
    n_train, n_val = len(data.train), len(data.val) if data.val is not None else 0
    batches = make_stream(train_ds, batch_size=cfg.batch_size, info=info, seed=cfg.seed,
                          num_workers=D.loader_workers(cfg.data.num_workers, device, info.world_size),
                          collate_fn=supervised_collate)
    model, arch = build_task_model(cfg)
    from_checkpoint = resume and run.checkpoint.exists()
    init: dict[str, Any] | str = "random"
    # the starting model's other trained heads go into the final bundle; a resume whose --init
    # folder is gone still finishes (every trained weight of its own task is in the checkpoint)
    start = starting_heads(cfg.init) if cfg.init and (not from_checkpoint or Path(cfg.init).exists()) else None
    if cfg.init and not from_checkpoint:  # a resume takes every weight from the checkpoint
        n = init_encoder(model, cfg.init)
        init = init_summary(cfg.init)
        log.info("encoder initialised from %s (%d tensors)", cfg.init, n)
    head_from_start = 0
    if start is not None and not (resume and run.checkpoint.exists()):
        head_from_start = init_task_head(model, start, cfg.task)
        if head_from_start:
            log.info("%s head initialised from %s (%d tensors)", cfg.task, start.source, head_from_start)
    if cfg.mode == "linear":
        freeze_encoder(model)
    elif cfg.mode != "full":
        raise ValueError(f"mode must be 'full' or 'linear', got {cfg.mode!r}")
    model.to(device)
    opt = make_optimisation(model, cfg.optim, precision, device, layer_decay=cfg.layer_decay)
    accum = cfg.optim.accumulation
    steps_per_epoch = max(1, batches.batches_per_epoch // accum)
    total = cfg.steps or cfg.epochs * steps_per_epoch  # steps > 0: a fixed budget (equal-step comparisons)
    sched = make_schedules(cfg.optim.lr, cfg.optim.min_lr, cfg.optim.weight_decay, cfg.optim.weight_decay_end,
                           cfg.optim.warmup_steps, total)
    weights = None if seg else class_weights([train_ds.label(i) for i in range(len(train_ds))]).to(device)
    step, resumed, metrics = 0, False, {}
    if from_checkpoint:
        state = restore_checkpoint(run.checkpoint, model, opt.optimizer, opt.scaler, device)
        step = int(state["step"])
        metrics = {k: float(v) for k, v in state.get("extra", {}).get("metrics", {}).items()}
        init = state.get("extra", {}).get("init", "random" if not cfg.init else {"name": "unknown"})
        resumed = True
    ddp = D.wrap_ddp(model, device, info)
    events.emit("started", kind="finetune", task=cfg.task, step=step, total_steps=total,
                steps_per_epoch=steps_per_epoch, resumed=resumed,
                device=str(device), precision=precision.name, world_size=info.world_size,
                n_train=n_train, n_val=n_val, config=to_dict(cfg))
    log.info("fine-tuning %s (%s, %s) on %s: %d train / %d val, %d steps", cfg.task, cfg.model.encoder, cfg.mode,
             device, n_train, n_val, total)
    if head_from_start and eval_split == "val" and info.is_main:
        # the starting model on the same held-out scans, so the new model's figures have a baseline
        model.to(device)
        start_metrics = evaluate_model(model, eval_ds, cfg.task, device, cfg.data.spacing,
                                       data.annotated or cfg.synth.structures)
        events.emit("eval", step=0, epoch=-1, split="val", model="start", **start_metrics)
        write_json(run.root / START_METRICS, {"name": start.source if start else "", "split": "val",
                                              "n": len(eval_ds), **start_metrics})
        model.train()
    task = FinetuneTask(cfg, model, eval_ds, eval_split, steps_per_epoch, weights, metrics, init, info, device, log,
                        data.annotated, starting_model(cfg, start, device) if data.annotated else None)
    model.train()
    loop = TrainingLoop(task, model, ddp, opt, precision, sched, batches, run, info, device, events, log, total,
                        accum, cfg.optim.grad_clip, cfg.batch_size, cfg.log_every, cfg.checkpoint_every, step=step)
    end = loop.run()
    if end.status == "stopped":
        return FinetuneResult("stopped", end.step, run.root, task.metrics, None, task.losses)
    bundle = None
    if info.is_main:
        bundle = _write_bundle(cfg, run, model, arch, {**data.card_summary(), "init": init}, task.metrics, eval_split,
                               total, len(eval_ds), start)
    events.emit("finished", step=end.step, path=bundle, **task.metrics)
    return FinetuneResult("finished", end.step, run.root, task.metrics, bundle, task.losses)


def starting_model(cfg: FinetuneConfig, start: StartingHeads | None, device: torch.device) -> torch.nn.Module | None:
    """The starting model as it was before any step (rebuilt from ``cfg.init``, so a resume gets the
    same), frozen; ``None`` without a starting segmentation head."""
    if not cfg.init or start is None or start.decoder is None:
        return None
    model, _ = build_task_model(cfg)
    init_encoder(model, cfg.init)
    init_task_head(model, start, cfg.task)
    model.requires_grad_(False)
    return model.to(device).eval()


class FinetuneTask(LoopTask):
    """Supervised fine-tuning in the shared loop: the task's loss, epochs of ``steps_per_epoch``
    steps each closed by an ``epoch`` event and an evaluation, metrics kept in the checkpoint."""

    epoch_in_failure = False

    def __init__(self, cfg: FinetuneConfig, model: torch.nn.Module, eval_ds: SupervisedDataset, eval_split: str,
                 steps_per_epoch: int, weights: torch.Tensor | None, metrics: dict[str, float],
                 init: dict[str, Any] | str, info: D.DistInfo, device: torch.device, log: Any,
                 annotated: list[str] | None = None, start_model: torch.nn.Module | None = None) -> None:
        self.cfg, self.model, self.eval_ds, self.eval_split = cfg, model, eval_ds, eval_split
        # what the masks label: the loss and the metrics are about these structures only
        self.scored = list(annotated or cfg.synth.structures)
        self.start_model = start_model  # frozen: what the unlabelled structures are kept close to
        self.steps_per_epoch, self.weights, self.info, self.device, self.log = steps_per_epoch, weights, info, device, log
        self.metrics, self.init = metrics, init
        self.losses: list[float] = []  # the loss of every step of this process's run
        self._epoch_losses: list[float] = []

    def loss(self, model: torch.nn.Module, batch: dict[str, Any],
             values: dict[str, float]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = model(batch["image"])["logits"]
        if self.cfg.task == "seg":
            start_logits = None
            if self.start_model is not None:
                with torch.no_grad():
                    start_logits = self.start_model(batch["image"])["logits"]
            loss = seg_loss(logits, batch["mask"], 1 + 2 * len(self.scored), start_logits)
        else:
            loss = F.cross_entropy(logits.float(), batch["label"], weight=self.weights)
        return loss, {"loss": loss}

    def epoch(self, stream_epoch: int, step: int) -> int:
        return (step - 1) // self.steps_per_epoch

    def before_report(self, loop: TrainingLoop, terms: dict[str, float]) -> None:
        self.losses.append(terms["loss"])
        self._epoch_losses.append(terms["loss"])

    def after_report(self, loop: TrainingLoop, terms: dict[str, float], values: dict[str, float],
                     reported: bool) -> None:
        if not (loop.step % self.steps_per_epoch == 0 or loop.step == loop.total):
            return
        loop.events.emit("epoch", step=loop.step, epoch=loop.epoch, loss=float(np.mean(self._epoch_losses)))
        self._epoch_losses = []
        if self.info.is_main and (loop.step == loop.total or self.eval_split == "val"):
            self.metrics = evaluate_model(self.model, self.eval_ds, self.cfg.task, self.device, self.cfg.data.spacing,
                                          self.scored)
            loop.events.emit("eval", step=loop.step, epoch=loop.epoch, split=self.eval_split, **self.metrics)
            self.log.info("epoch %d %s metrics: %s", loop.epoch, self.eval_split, self.metrics)
        self.model.train()

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"metrics": {k: float(v) for k, v in self.metrics.items()}, "init": self.init}


#: The starting model's metrics on the run's held-out split, measured before the first step.
START_METRICS = "start_metrics.json"


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _start_metrics(run: RunFolder) -> dict[str, Any]:
    """``{"starting_model": {...}}`` when the run measured its starting model (else ``{}``)."""
    try:
        return {"starting_model": json.loads((run.root / START_METRICS).read_text(encoding="utf-8"))}
    except (OSError, ValueError):
        return {}


def _write_bundle(cfg: FinetuneConfig, run: RunFolder, model: torch.nn.Module, arch: dict[str, Any],
                  summary: dict[str, Any], metrics: dict[str, float], eval_split: str, total: int,
                  n_eval: int, start: StartingHeads | None = None) -> Path:
    # One model, all heads: the starting model's other trained heads are kept (weights unchanged;
    # see kept_heads for what the card says about them), the fine-tuned head is added or replaced.
    kept = kept_heads(start, cfg.task, cfg.mode)
    if kept and start is not None:
        arch, state = multitask_bundle(model, arch, start, cfg.task, kept)
    else:
        state = {k: v for k, v in model.state_dict().items()}
    card = ModelCard(
        name=f"volta3d-{cfg.model.encoder}-{cfg.task}",
        architecture=arch,
        input=card_input(spacing=cfg.data.spacing, size=cfg.data.size, normalisation=cfg.data.normalisation,
                         space=cfg.data.space, roi=cfg.data.roi),
        heads=card_heads(cfg.task, kept, cfg.synth.structures,
                         int((start.decoder or {}).get("num_classes", 3)) if start is not None else 3),
        training_data={**summary, "task": cfg.task, "mode": cfg.mode,
                       "epochs": cfg.epochs, "steps": total, "augmentation": cfg.augment},
        metrics={**{k: float(v) for k, v in metrics.items()}, **_start_metrics(run),
                 "protocol": f"measured on the {eval_split} split ({n_eval} samples) "
                             f"after the last epoch, in model space ({cfg.data.spacing} mm); "
                             + ("Dice/HD95 (mm)/relative volume error per side" if cfg.task == "seg"
                                else "AUROC (rank-based), balanced accuracy, sensitivity, specificity at p>=0.5")},
        code_version=code_version(),
    )
    return save_bundle(run.bundle, state, card)
