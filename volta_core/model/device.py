"""Device and precision choice, shared by training and inference: CUDA -> MPS -> CPU by default, overridable."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch


class DeviceError(RuntimeError):
    """The requested device is not available on this machine."""


def choose_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; ``cpu``/``cuda``/``mps`` force one.

    Raises:
        DeviceError: a forced device is missing (message says what to use instead).
    """
    name = name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("device=cuda was requested but no CUDA GPU is available; use device=cpu or auto.")
        return torch.device("cuda", local_rank % torch.cuda.device_count()) if name == "cuda" else torch.device(name)
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise DeviceError("device=mps was requested but MPS is not available; use device=cpu or auto.")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda or mps.")


@dataclass
class Precision:
    """Mixed-precision policy: autocast dtype (None = fp32) and whether a GradScaler is needed."""

    dtype: torch.dtype | None
    use_scaler: bool

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def choose_precision(device: torch.device, name: str = "auto") -> Precision:
    """``auto``: bf16 autocast on CUDA GPUs that support it, else fp16 + GradScaler; fp32 elsewhere."""
    if name not in ("auto", "fp32", "bf16", "fp16"):
        raise DeviceError(f"unknown precision {name!r}: use auto, fp32, bf16 or fp16.")
    if name == "fp32" or device.type != "cuda":
        return Precision(None, False)  # mixed precision only pays on CUDA; CPU/MPS stay fp32
    if name == "bf16" or (name == "auto" and torch.cuda.is_bf16_supported()):
        return Precision(torch.bfloat16, False)
    return Precision(torch.float16, True)


def describe_device(device: torch.device) -> str:
    """Human name of a device for the UI and reports, e.g. ``"CPU (2 threads)"`` or the GPU's name."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
