"""Torch-free records that the engine and the GUI share (numpy and the standard library only).

- :mod:`~volta_core.contracts.prediction`: the prediction record, label names, intended use and
  the volume / asymmetry / HOC formulas.
- :mod:`~volta_core.contracts.model_card`: the model card and its JSON reader (the weights'
  safetensors I/O stays in :mod:`volta_core.model.bundle`).
- :mod:`~volta_core.contracts.events`: the names of the training progress events.
- :mod:`~volta_core.contracts.resources`: where bundled files are, in a checkout or a PyInstaller
  bundle.

The app imports these instead of re-writing them; an import-linter contract keeps this package
free of torch, SimpleITK, nibabel, scipy, Qt and every other part of ``volta_core``.
"""
