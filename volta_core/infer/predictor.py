"""Run a model bundle on a scan end to end: preprocess, model, map back, measure, check.

Used by both the ``volta predict`` command and the GUI's worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from volta_core.infer.intensity import robust_intensities
from volta_core.infer.ood import FeatureStats, load_feature_stats, pooled_features
from volta_core.contracts.prediction import (
    HEAD_LABELS,
    ClassResult,
    ModelInfo,
    Prediction,
    QualityReport,
    asymmetry_index,
    hippocampal_occupancy,
    label_names_for,
    label_volumes_ml,
)
from volta_core.infer.quality import (
    NOT_A_HEAD,
    looks_like_head,
    quality_warnings,
    resolution_warnings,
    signed_correlation,
    template_on_model_grid,
)
from volta_core.io.volume import Volume
from volta_core.contracts.model_card import BundleError, ModelCard
from volta_core.model.bundle import load_model, load_t1_segmenter, t1_variant_info
from volta_core.model.device import choose_device, describe_device
from volta_core.preprocess.pipeline import ModelInputSpec, Preprocessed, preprocess, template_brain_on_model_grid
from volta_core.preprocess.register import intracranial_volume_ml
from volta_core.preprocess.template import Template, load_template

ProgressCallback = Callable[[str, float], None]
STAGES = ("preprocess", "model", "inverse", "measure")
POSITIVE_LABEL = {"sex": "M", "ad": "AD"}
# probabilities are only interpolated back where the model sees some hippocampus
_BOX_THRESHOLD = 0.01
#: ``segmenter`` choices: the card's rule by the scan's contrast, the T1 segmenter, the general one
SEGMENTER_CHOICES = ("auto", "t1", "general")


class PredictionCancelled(Exception):
    """The caller asked to stop; nothing was produced."""


class PredictionError(RuntimeError):
    """The model could not be run on this scan (the message says why and what to try)."""


def two_class_labels(background: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The hippocampus model's decision: 1 where left beats right and background, 2 where right
    beats background and is not below left (ties go to the right), else 0."""
    decided = np.zeros(np.shape(left), dtype=np.uint8)
    decided[(left > right) & (left > background)] = 1
    decided[(right >= left) & (right > background)] = 2
    return decided


def input_spec_from_card(card: ModelCard) -> ModelInputSpec:
    """The preprocessing a bundle's model was trained with.

    Raises:
        BundleError: the card asks for something this version cannot do.
    """
    inp = card.input
    _check_input_grid(card)
    try:
        return ModelInputSpec(
            spacing=tuple(float(v) for v in inp["spacing_mm"]),  # type: ignore[arg-type]
            size=tuple(int(v) for v in inp["size"]),  # type: ignore[arg-type]
            space=inp.get("space", "native"),  # cards that do not say were trained in native space
            roi=inp.get("roi"),
            normalisation=inp.get("normalisation", "percentile"),
            registration_mode=inp.get("registration", "affine"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"model card input specification is invalid: {exc}") from exc


MODEL_SIZE_RANGE = (8, 1024)     # voxels per axis of the model grid
MODEL_SPACING_RANGE = (0.1, 20.0)  # mm


def _check_input_grid(card: ModelCard) -> None:
    """Refuse a card whose model grid no scan could be prepared for (the card is at fault, not the scan).

    Raises:
        BundleError: ``input.size`` or ``input.spacing_mm`` is not three sensible numbers, or the
            size is not a multiple of the encoder's patch size.
    """
    inp = card.input
    try:
        size = [float(v) for v in inp["size"]]
        spacing = [float(v) for v in inp["spacing_mm"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"model card input specification is invalid: {exc}") from exc
    lo, hi = MODEL_SIZE_RANGE
    if len(size) != 3 or not all(v.is_integer() and lo <= v <= hi for v in size):
        raise BundleError(f"the model card's input.size {inp['size']} is invalid: it needs three whole numbers of "
                          f"voxels between {lo} and {hi}. The bundle's model_card.json is damaged or was edited.")
    lo_mm, hi_mm = MODEL_SPACING_RANGE
    if len(spacing) != 3 or not all(np.isfinite(v) and lo_mm <= v <= hi_mm for v in spacing):
        raise BundleError(f"the model card's input.spacing_mm {inp['spacing_mm']} is invalid: it needs three voxel "
                          f"sizes between {lo_mm} and {hi_mm} mm. The bundle's model_card.json is damaged or was "
                          "edited.")
    patch = card.architecture.get("overrides", {}).get("patch_size") if isinstance(card.architecture, dict) else None
    if isinstance(patch, int) and patch > 0 and any(int(v) % patch for v in size):
        raise BundleError(f"the model card's input.size {inp['size']} is not a multiple of the encoder's patch size "
                          f"{patch}. The bundle's model_card.json is damaged or was edited.")


class Predictor:
    """A loaded model bundle, ready to predict on any number of scans.

    Args:
        card: the bundle's model card.
        model: the network (``VoltaSegmenter`` or ``VoltaClassifier``) with weights loaded.
        device: where the model runs.
        bundle: the bundle folder (for provenance).
        ood_stats: training feature statistics, if the bundle has them.
        template: registration template (defaults to the shipped one when needed).
        t1_segmenter: the bundle's second segmenter for T1-weighted scans (card
            ``heads.segmentation.t1_variant``), if it has one: it draws the masks of scans whose
            correlation with the T1 template reaches the card's ``min_template_correlation``, the
            general model those of every other scan (and the classification heads always).
    """

    def __init__(self, card: ModelCard, model: torch.nn.Module, device: torch.device, bundle: Path,
                 ood_stats: FeatureStats | None = None, template: Template | None = None,
                 t1_segmenter: torch.nn.Module | None = None) -> None:
        self.card = card
        self.model = model.to(device).eval()
        self.t1_variant = t1_variant_info(card) if t1_segmenter is not None else None
        self.t1_segmenter = t1_segmenter.to(device).eval() if t1_segmenter is not None else None
        self.device = device
        self.bundle = bundle
        self.ood_stats = ood_stats
        self.spec = input_spec_from_card(card)
        self.kind = card.architecture.get("model", "encoder")
        if self.kind not in ("segmenter", "classifier", "multitask"):
            raise BundleError(f"bundle {bundle} holds a bare encoder: fine-tune it before predicting")
        #: volumes are only measured by a decoder the card says is trained (``Prediction.segmented``)
        self.segments = getattr(model, "decoder", None) is not None and bool(
            card.heads.get("segmentation", {}).get("trained", False))
        self.template = template if template is not None or self.spec.space != "template" else load_template()
        self.head_masks = self._head_masks()
        #: heads fitted on the mean of the view's and its mirror's features (a linear probe: the mean
        #: of the two logits is exactly what was fitted and calibrated)
        self.mirror_heads = {name for name in self.head_masks if self.card.heads[name].get("mirror_average")}

    def _head_masks(self) -> dict[str, torch.Tensor]:
        """Classification head -> ``(1, 1, X, Y, Z)`` input mask, for heads whose card asks to read
        the brain only (``input_mask``: the template brain mask, eroded; scripts/build_sex_head.py):
        such a head sees a full-head scan and a skull-stripped one alike."""
        masks = {}
        for name in self._class_heads():
            wanted = self.card.heads.get(name, {}).get("input_mask")
            if not wanted:
                if self.card.heads.get(name, {}).get("mirror_average"):
                    raise BundleError(f"bundle {self.bundle}: the {name} head's mirror_average needs an input_mask")
                continue
            if wanted.get("kind") != "template_brain" or self.template is None:
                raise BundleError(f"bundle {self.bundle}: the {name} head's input mask {wanted} needs a "
                                  "template-space model and is not supported by this version")
            mask = template_brain_on_model_grid(self.spec, self.template, erode_voxels=int(wanted.get("erode_voxels", 0)))
            masks[name] = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        return masks

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "auto", local_rank: int = 0) -> Predictor:
        """Load a bundle folder (safetensors + model card; nothing is unpickled).

        Args:
            path: the bundle folder.
            device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda`` or ``mps``.
            local_rank: with CUDA, use GPU ``local_rank`` (modulo the GPU count): one GPU per
                torchrun rank on a node.

        Raises:
            BundleError: missing or damaged bundle. DeviceError: the device is not available.
        """
        path = Path(path)
        card, model = load_model(path)
        stats = load_feature_stats(path)
        return cls(card, model, choose_device(device, local_rank), path, stats,
                   t1_segmenter=load_t1_segmenter(path, card))

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    def head_caveats(self) -> list[str]:
        """One line per trained classification head with the card's caveat, e.g. ``P(male): weak
        cue: trained on ...`` (what the CLI prints before the first scan)."""
        return [f"{HEAD_LABELS[h]}: {self.card.heads[h]['note']}" for h in ("sex", "ad")
                if self.card.heads.get(h, {}).get("trained") and self.card.heads[h].get("note")]

    # ------------------------------------------------------------------------------------
    def predict(
        self,
        volume: Volume,
        *,
        tta: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | Callable[[], bool] | None = None,
        name: str = "",
        segmenter: str = "auto",
    ) -> Prediction:
        """Run the model on one scan and return everything on the scan's own grid.

        Args:
            volume: the scan (any orientation, spacing, with or without skull).
            tta: also run on the left-right mirrored input and average (labels swapped back).
            progress: called as ``progress(stage, fraction_done)`` with stages in :data:`STAGES`.
            cancel: an Event (or callable) checked between stages; raises
                :class:`PredictionCancelled` when set.
            name: display name of the scan for reports.
            segmenter: which of the bundle's segmenters draws the masks (:data:`SEGMENTER_CHOICES`):
                ``auto`` follows the card's contrast rule, ``t1`` and ``general`` force one. Bundles
                with a single segmenter ignore ``auto`` and ``general``.

        Raises:
            PredictionCancelled, PredictionError (also for ``segmenter="t1"`` without a T1 segmenter).
        """
        if segmenter not in SEGMENTER_CHOICES:
            raise ValueError(f"segmenter must be one of {SEGMENTER_CHOICES}, got {segmenter!r}")
        if segmenter == "t1" and self.t1_segmenter is None:
            raise PredictionError(f"the model {self.card.name} has no T1 segmenter; use segmenter auto or general")
        timings: dict[str, float] = {}

        def stage(name_: str, fraction: float) -> None:
            if cancel is not None and (cancel.is_set() if isinstance(cancel, threading.Event) else cancel()):
                raise PredictionCancelled("prediction cancelled")
            if progress is not None:
                progress(name_, fraction)

        stage("preprocess", 0.0)
        started = time.perf_counter()
        prep, intensity_warnings = self.prepare(volume)
        timings["preprocess"] = time.perf_counter() - started
        timings.update({f"preprocess.{k}": v for k, v in prep.timings.items()})
        correlation = self.template_correlation(prep)
        use_t1, choice = self.choose_segmenter(correlation, segmenter)

        stage("model", 0.25)
        started = time.perf_counter()
        probs_model, class_probs, features = self._run_network(prep.data, tta, use_t1)
        timings["model"] = time.perf_counter() - started

        stage("inverse", 0.6)
        started = time.perf_counter()
        labels, probabilities = self._to_native(prep, probs_model, volume)
        timings["inverse"] = time.perf_counter() - started

        stage("measure", 0.85)
        started = time.perf_counter()
        scan_warnings = [str(w) for w in volume.metadata.get("warnings", [])] + intensity_warnings
        prediction = self._measure(volume, prep, labels, probabilities, class_probs, features, timings, name,
                                   scan_warnings, correlation, choice)
        timings["measure"] = time.perf_counter() - started
        stage("measure", 1.0)
        return prediction

    def prepare(self, volume: Volume) -> tuple[Preprocessed, list[str]]:
        """The scan on the model's grid (robust intensities, registration, resampling,
        normalisation) and the intensity warnings.

        Raises:
            PredictionError: the scan could not be prepared.
        """
        safe, intensity = robust_intensities(volume)
        try:
            return preprocess(safe, self.spec, template=self.template), list(intensity.warnings)
        except ValueError as exc:
            raise PredictionError(f"the scan could not be prepared for the model: {exc}") from exc

    def template_correlation(self, prep: Preprocessed) -> float | None:
        """Signed correlation of the prepared scan with the T1 template inside the template's brain
        (None in native space): about 0.5-0.9 for T1-weighted scans, negative for inverted contrast."""
        if prep.record.registration is None or self.template is None:
            return None
        template_image, brain = template_on_model_grid(self.template, prep)
        return signed_correlation(prep.data, template_image, brain)

    def choose_segmenter(self, correlation: float | None, segmenter: str = "auto") -> tuple[bool, str]:
        """Whether the T1 segmenter draws this scan's masks, and the choice in words for the outputs
        (``""`` for a bundle with one segmenter)."""
        if self.t1_segmenter is None or self.t1_variant is None:
            return False, ""
        if segmenter != "auto":
            return segmenter == "t1", f"{segmenter} (chosen by the user)"
        gate = float(self.t1_variant["min_template_correlation"])
        if correlation is None:
            return False, "general (no template correlation)"
        if correlation >= gate:
            return True, f"t1 (template correlation {correlation:.3f} >= {gate:.3f})"
        return False, f"general (template correlation {correlation:.3f} < {gate:.3f})"

    # ------------------------------------------------------------------------------------
    def _autocast(self):  # noqa: ANN202 - a context manager
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)

    def _class_heads(self) -> dict[str, torch.nn.Module]:
        """Classification head name -> module (a classifier's one head is named by its card)."""
        if self.kind == "multitask":
            return dict(self.model.heads.items())
        task = self._head_task()
        return {task: self.model.head} if self.kind == "classifier" and task else {}

    def _forward(self, x: torch.Tensor, mirrored: bool = False, use_t1: bool = False
                 ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor], torch.Tensor]:
        """x: (B, 1, X, Y, Z) -> (seg probabilities (B, C, X, Y, Z) | None, head -> class probs (B, K), features (B, F)).

        ``mirrored``: x is the left-right mirrored input (a head's input mask is mirrored with it).
        ``use_t1``: the T1 segmenter draws the masks; the features and heads stay the general model's."""
        if use_t1 and self.t1_segmenter is not None:  # the general decoder's masks would be discarded: skip it
            feats = self.model.encoder(x)
            heads = getattr(self.model, "heads", {})
            out = {f"{name}_logits": head(feats.cls_token, feats.patch_tokens) for name, head in heads.items()}
            seg_logits = self.t1_segmenter(x)["logits"]
        else:
            feats, out = self.model.forward_with_features(x)  # the network's own forward, with its features
            seg_logits = out.get("seg_logits", out.get("logits") if self.kind == "segmenter" else None)
        seg = torch.softmax(seg_logits.float(), dim=1) if seg_logits is not None else None
        heads = self._class_heads()
        for name, mask in self.head_masks.items():  # heads that read the brain only: one more encoder pass
            view = x * (torch.flip(mask, dims=(2,)) if mirrored else mask)
            views = (view, torch.flip(view, dims=(2,))) if name in self.mirror_heads else (view,)
            logits = [heads[name](t.cls_token, t.patch_tokens) for t in map(self.model.encoder, views)]
            out[f"{name}_logits"] = torch.stack(logits).mean(0)
        cls = {name: torch.softmax(out.get(f"{name}_logits", out.get("logits")).float(), dim=1) for name in heads}
        return seg, cls, pooled_features(feats.cls_token, feats.patch_tokens)

    def _run_network(self, data: np.ndarray, tta: bool, use_t1: bool = False
                     ) -> tuple[np.ndarray | None, dict[str, np.ndarray], torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(data))[None, None].to(self.device)  # (1, 1, X, Y, Z)
        try:
            with torch.inference_mode(), self._autocast():
                seg, cls, features = self._forward(x, use_t1=use_t1)
                if tta:
                    # the model grid is RAS: axis X (tensor dim 2) runs left -> right
                    seg_f, cls_f, _ = self._forward(torch.flip(x, dims=(2,)), mirrored=True, use_t1=use_t1)
                    if seg is not None and seg_f is not None:
                        swap = [0] + [c + 1 if c % 2 else c - 1 for c in range(1, seg_f.shape[1])]
                        seg_f = torch.flip(seg_f, dims=(2,))[:, swap]  # mirrored left is right
                        seg = (seg + seg_f) / 2
                    cls = {name: (probs + cls_f[name]) / 2 for name, probs in cls.items()}
        except RuntimeError as exc:  # out of memory and friends
            message = str(exc).splitlines()[0]
            hint = " Try device=cpu." if self.device.type != "cpu" else " Close other programs and try again."
            raise PredictionError(f"the model failed on {self.device_name}: {message}.{hint}") from exc
        seg_np = seg[0].float().cpu().numpy() if seg is not None else None
        cls_np = {name: probs[0].float().cpu().numpy() for name, probs in cls.items()}
        return seg_np, cls_np, features.float().cpu()

    def _to_native(self, prep: Preprocessed, probs: np.ndarray | None, volume: Volume) -> tuple[np.ndarray, np.ndarray]:
        shape = volume.shape
        if probs is None:  # a classifier: no segmentation
            empty = np.zeros((3, *shape), dtype=np.float16)
            empty[0] = 1
            return np.zeros(shape, dtype=np.uint8), empty
        spatial = prep.record.spatial
        foreground = probs[1:].sum(axis=0) > _BOX_THRESHOLD
        out = np.zeros((probs.shape[0], *shape), dtype=np.float16)
        out[0] = 1
        labels = np.zeros(shape, dtype=np.uint8)
        if not foreground.any():
            return labels, out
        idx = np.argwhere(foreground)
        box = (idx.min(0) - 1.0, idx.max(0) + 1.0)
        # every channel is interpolated, and the labels decided, only in the scan block that
        # covers the predicted structures (outside it: background), in float32
        inside = spatial.native_block(box)
        part = np.stack([spatial.to_native_block(probs[c], inside, order=1, fill=1.0 if c == 0 else 0.0)
                         for c in range(probs.shape[0])])
        out[(slice(None), *inside)] = part
        if part.shape[0] == 3:  # hippocampus only: the two-class rule
            decided = two_class_labels(part[0], part[1], part[2])
        else:
            decided = np.argmax(part, axis=0).astype(np.uint8)
        labels[inside] = decided
        return labels, out

    def _measure(self, volume: Volume, prep: Preprocessed, labels: np.ndarray, probabilities: np.ndarray,
                 class_probs: dict[str, np.ndarray], features: torch.Tensor, timings: dict[str, float],
                 name: str, scan_warnings: list[str] | None = None, correlation: float | None = None,
                 segmenter: str = "") -> Prediction:
        n_classes = int(probabilities.shape[0]) if getattr(self.model, "decoder", None) is not None else 3
        volumes = label_volumes_ml(labels, volume.affine, n_classes)
        registration = prep.record.registration
        icv = None
        if registration is not None and self.template is not None:
            icv = intracranial_volume_ml(self.template, registration)
        relative = None if not icv else {k: 100.0 * v / icv for k, v in volumes.items()}
        ood = float(self.ood_stats.score(features)[0]) if self.ood_stats is not None else None
        warnings = list(scan_warnings or []) + resolution_warnings(volume)
        if registration is not None and not np.isfinite(registration.quality):
            warnings.append("registration quality could not be computed; check the mask before using the volumes")
        warnings += quality_warnings(
            registration_quality=None if registration is None else registration.quality,
            registration_converged=None if registration is None else registration.converged,
            template_correlation=correlation,
            ood_score=ood,
            total_ml=volumes["total"] if getattr(self.model, "decoder", None) is not None else None,
            head_like=looks_like_head(volume) if registration is not None and registration.quality < NOT_A_HEAD else True,
        )
        seg_head = self.card.heads.get("segmentation", {})
        if getattr(self.model, "decoder", None) is not None and not seg_head.get("trained", False):
            warnings.append("the segmentation head of this model is not trained")
        if self.segments and seg_head.get("note"):
            warnings.append(f"segmentation head {seg_head['note']}")
        return Prediction(
            labels=labels,
            probabilities=probabilities,
            affine=volume.affine.copy(),
            volumes_ml=volumes,
            icv_ml=icv,
            relative_volumes=relative,
            asymmetry_index=asymmetry_index(volumes["left"], volumes["right"]),
            classification=self._classification(class_probs),
            quality=QualityReport(
                registration_quality=None if registration is None else float(registration.quality),
                registration_converged=None if registration is None else bool(registration.converged),
                template_correlation=correlation,
                ood_score=ood,
                warnings=tuple(warnings),
            ),
            model=ModelInfo(self.card.name, self.card.created, self.card.code_version, str(self.bundle), segmenter),
            device=self.device_name,
            timings=timings,
            scan=name or (volume.source.name if volume.source else ""),
            segmented=self.segments,
            label_names=label_names_for(n_classes),
            hoc=hippocampal_occupancy(volumes) if self.segments else None,
        )

    def _classification(self, class_probs: dict[str, np.ndarray]) -> dict[str, ClassResult]:
        results = {}
        for head in ("sex", "ad"):
            info = self.card.heads.get(head, {})
            note = str(info.get("note", ""))
            trained = bool(info.get("trained", False)) and head in class_probs
            probability = float(class_probs[head][1]) if trained else None
            if probability is not None and "probability_range" in info:
                # never more certain than the head was on subjects it had not seen (its card says so)
                low, high = (float(v) for v in info["probability_range"])
                probability = min(max(probability, low), high)
            results[head] = ClassResult(head, trained, probability, POSITIVE_LABEL[head], note)
        return results

    def _head_task(self) -> str | None:
        """Which classification task a classifier bundle was trained for (the one trained head)."""
        trained = [h for h in ("sex", "ad") if self.card.heads.get(h, {}).get("trained")]
        return trained[0] if self.kind == "classifier" and len(trained) == 1 else None
