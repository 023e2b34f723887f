"""Linear probes on a bundle's encoder, and a probe turned into a shipped classification head.

A probe is an L2-regularised, class-balanced logistic regression on the encoder's pooled tokens
(class token and patch-token mean, as :class:`~volta_core.model.heads.classifier.ClassificationHead`
pools them) after the head's own LayerNorm at its initial identity affine. Because the probe sees
exactly what the head's linear layer sees, it can be written into the head with no loss:
:func:`probe_head_state`. :func:`add_head` then writes a ``multitask`` bundle with the new head
and every other head and tensor of the starting bundle unchanged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from volta_core.infer.ood import pooled_features
from volta_core.model.bundle import ModelCard, build_model, load_bundle, save_bundle
from volta_core.model.heads.classifier import ClassificationHead

#: The head a probe becomes (the classifier head's form: linear on LayerNorm'd pooled tokens).
PROBE_HEAD = {"num_classes": 2, "use_patch_mean": True, "hidden_dim": None}


def load_bundle_model(bundle: str | Path) -> tuple[ModelCard, torch.nn.Module]:
    """The bundle's network with its weights, in eval mode."""
    card, state = load_bundle(bundle)
    model = build_model(card)
    model.load_state_dict(state)
    return card, model.eval()


def probe_features(model: torch.nn.Module, x: np.ndarray, *, mirror: bool = True) -> np.ndarray:
    """``(N, 2D)`` LayerNorm'd pooled tokens of ``model.encoder`` for model inputs ``x`` ``(N, X, Y, Z)``;
    with ``mirror``, averaged with the left-right mirrored input (the predictor's test-time
    augmentation)."""
    out = []
    with torch.inference_mode():
        for volume in x:
            t = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
            views = (t, torch.flip(t, dims=(2,))) if mirror else (t,)
            feats = []
            for view in views:
                tokens = model.encoder(view)
                pooled = pooled_features(tokens.cls_token, tokens.patch_tokens)
                feats.append(torch.nn.functional.layer_norm(pooled, pooled.shape[-1:]))
            out.append(torch.stack(feats).mean(0)[0].numpy())
    return np.stack(out)


def _balanced_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-sample weights ``n / (2 n_class)``: both classes weigh the same in total."""
    n, n1 = float(len(labels)), float(labels.sum())
    return torch.where(labels > 0, torch.tensor(n / (2 * n1)), torch.tensor(n / (2 * (n - n1)))).double()


@dataclass(frozen=True)
class Probe:
    """A fitted probe: standardisation, then ``logit = w . z + b``."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float

    def logit(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale) @ self.weight + self.bias

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(class 1) per row."""
        return 1.0 / (1.0 + np.exp(-self.logit(features)))


def fit_probe(features: np.ndarray, labels: np.ndarray, *, c: float = 0.05) -> Probe:
    """L2 logistic regression on standardised features, classes weighted to balance.

    Args:
        features: ``(N, F)``.
        labels: ``(N,)`` of 0/1, both present.
        c: inverse regularisation strength (scikit-learn's ``C``: the penalty is ``|w|^2 / (2 c)``
            against the summed, class-weighted log loss).

    Raises:
        ValueError: one class only, or mismatched shapes.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).astype(np.float64)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need features (N, F) and N labels, got {x.shape} and {y.shape}")
    if y.min() == y.max():
        raise ValueError("a probe needs examples of both classes")
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    z = torch.from_numpy((x - mean) / scale)
    t = torch.from_numpy(y)
    weights = _balanced_weights(t)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (weights * torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, t, reduction="none")).sum()
        loss = loss + (w * w).sum() / (2.0 * c)
        loss.backward()
        return loss

    opt.step(closure)
    return Probe(mean, scale, w.detach().numpy().copy(), float(b.detach()))


def calibrated(probe: Probe, held_out_logits: np.ndarray, labels: np.ndarray) -> tuple[Probe, float, float]:
    """Platt scaling: the probe with its logit mapped through ``a * logit + b``, fitted on logits the
    probe's fits gave to subjects they had *not* seen (out-of-fold), classes weighted to balance
    (as the probe was: probabilities are for equal priors, not the training set's class ratio). A
    probe that overfits gets ``a < 1``: its probabilities are pulled towards 0.5. Returns
    ``(probe, a, b)``."""
    z = torch.from_numpy(np.asarray(held_out_logits, dtype=np.float64))
    t = torch.from_numpy(np.asarray(labels, dtype=np.float64))
    if t.min() == t.max():
        raise ValueError("calibration needs examples of both classes")
    weights = _balanced_weights(t)
    ab = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ab], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] * z + ab[1], t, weight=weights)
        loss.backward()
        return loss

    opt.step(closure)
    a, b = (float(v) for v in ab.detach())
    return Probe(probe.mean, probe.scale, probe.weight * a, probe.bias * a + b), a, b


def probe_head_state(probe: Probe, embed_dim: int) -> dict[str, torch.Tensor]:
    """The probe as a :class:`ClassificationHead` state (2 classes: softmax class 1 = the probe's
    probability). The standardisation is folded into the linear layer; the LayerNorm keeps its
    initial weight 1 and bias 0, which is what :func:`probe_features` applied."""
    head = ClassificationHead(embed_dim, **PROBE_HEAD)
    state = head.state_dict()
    linear = [k for k, v in state.items() if k.startswith("mlp.") and k.endswith("weight") and v.ndim == 2]
    if len(linear) != 1 or state[linear[0]].shape[1] != len(probe.weight):
        raise ValueError(f"the probe has {len(probe.weight)} features; the head takes {state[linear[0]].shape[1]}")
    w = probe.weight / probe.scale
    b = probe.bias - float((probe.weight * probe.mean / probe.scale).sum())
    # logits (-z/2, +z/2): softmax gives class 1 the probability sigmoid(z)
    state[linear[0]] = torch.from_numpy(np.stack([-w / 2, w / 2])).float()
    state[linear[0].replace("weight", "bias")] = torch.tensor([-b / 2, b / 2], dtype=torch.float32)
    return state


def add_head(bundle: str | Path, out: str | Path, name: str, head_state: dict[str, torch.Tensor], *,
             head_card: dict[str, Any], card_updates: dict[str, Any] | None = None) -> Path:
    """Write ``out``: the bundle with classification head ``name`` added (a ``multitask`` bundle).

    The encoder, the segmentation decoder and every other head keep their tensors; the card's
    ``heads[name]`` becomes ``head_card`` and ``card_updates`` (e.g. ``metrics``,
    ``training_data``, ``limitations``) replace those fields. The result is loaded back
    strictly before this returns.

    Raises:
        BundleError: the result does not load.
    """
    card, state = load_bundle(bundle)
    arch = dict(card.architecture)
    if arch.get("model") == "segmenter":
        arch["decoder"] = {**arch.get("decoder", {}), "num_classes": int(arch.get("num_classes", 3))}
    elif arch.get("model") == "classifier":
        raise ValueError("add_head starts from a segmenter or multitask bundle")
    arch.pop("num_classes", None)
    heads = dict(arch.get("heads") or {})
    heads[name] = dict(PROBE_HEAD)
    arch.update(model="multitask", heads=heads)
    state = {k: v for k, v in state.items() if not k.startswith(f"heads.{name}.")}
    state.update({f"heads.{name}.{k}": v for k, v in head_state.items()})
    card_heads = {**card.heads, name: head_card}
    new = ModelCard.from_dict({**card.to_dict(), **(card_updates or {}), "architecture": arch, "heads": card_heads})
    target = Path(out)
    if target.resolve() != Path(bundle).resolve():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(bundle, target)  # keeps the OOD statistics and anything else in the folder
    save_bundle(target, state, new)
    load_bundle_model(target)
    return target
