"""Training uses the same device choice as inference (kept in the model layer, see there)."""

from __future__ import annotations

from volta_core.model.device import DeviceError, Precision, choose_device, choose_precision

__all__ = ["DeviceError", "Precision", "choose_device", "choose_precision"]
