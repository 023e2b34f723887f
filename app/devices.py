"""Which compute devices to offer without importing torch (it is imported when a model first runs)."""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

DEVICES = (("auto", "Auto (GPU if available)"), ("cpu", "CPU"), ("cuda", "CUDA GPU"), ("mps", "Apple GPU (MPS)"))


def available_devices() -> set[str]:
    """Devices that can work here: exact once torch is loaded, a cheap driver check before."""
    torch = sys.modules.get("torch")
    found = {"auto", "cpu"}
    if torch is not None:
        if torch.cuda.is_available():
            found.add("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            found.add("mps")
        return found
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        found.add("cuda")
    if sys.platform == "darwin" and platform.machine() == "arm64":
        found.add("mps")
    return found
