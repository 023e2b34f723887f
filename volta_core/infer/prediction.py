"""Moved to :mod:`volta_core.contracts.prediction` (torch-free, shared with the app). This old
path stays only for code written against it while the app is restructured; import the contract."""

from volta_core.contracts.prediction import *  # noqa: F401,F403
from volta_core.contracts.prediction import __all__  # noqa: F401
