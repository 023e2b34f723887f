"""Atomic, pickle-free training checkpoints with exact-resume state.

A checkpoint is ``torch.save`` of a dict holding only tensors and primitive containers (so it
loads with ``torch.load(..., weights_only=True)``): model and optimizer state, step/epoch,
grad-scaler state and RNG states stored as tensors.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or read (disk full, damaged file, wrong run)."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, read-only folder); the previous one is intact."""


def rng_state() -> dict[str, Any]:
    """Python, numpy (legacy global) and torch RNG states as tensors."""
    py_version, py_state, _ = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": torch.tensor(list(py_state), dtype=torch.int64),
        "python_version": int(py_version),
        "numpy_keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "numpy_pos": int(np_pos), "numpy_has_gauss": int(np_has_gauss), "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by :func:`rng_state`."""
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()), None))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


#: what every training checkpoint holds (see ``engine.checkpoint_state``)
REQUIRED_KEYS = ("model", "optimizer", "step", "rng")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Delete ``.<name>.tmp-*`` files a killed writer left next to checkpoint ``path``."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = sorted(path.parent.glob(f".{path.name}.tmp-*"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # torch's zip writer reports a failed write as "[enforce fail at inline_container.cc] . unexpected pos"
    text = str(exc)
    return "unexpected pos" in text or "No space left" in text or "file write failed" in text


def _free_space(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MB free"
    except OSError:
        return "free space unknown"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: temp file in the same folder, fsync, ``os.replace``.

    The temp file is removed whatever goes wrong (full disk, interrupt), so a failed write
    leaves the previous checkpoint exactly as it was and nothing else.

    Raises:
        CheckpointWriteError: the file could not be written (the previous checkpoint is intact).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        kept = f"the last good checkpoint {path} is kept" if path.is_file() else "no earlier checkpoint exists"
        if _disk_full(exc):
            raise CheckpointWriteError(f"disk full while writing checkpoint {path} ({_free_space(path.parent)}); "
                                  f"{kept}. Free disk space, then continue with --resume") from exc
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {_first_line(exc)}; {kept}. Check the run "
                              "folder is writable, then continue with --resume") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    required: tuple[str, ...] = ("model", "step")) -> dict[str, Any]:
    """Load a training checkpoint without unpickling arbitrary objects.

    Args:
        path: the checkpoint file.
        map_location: where tensors go.
        required: keys the checkpoint must hold (:data:`REQUIRED_KEYS` to resume training).

    Raises:
        CheckpointError: missing, damaged, containing non-tensor objects or not a training
            checkpoint; the message names the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: nothing to resume.")
    restart = (f"delete {path} and run again with --resume to restart this run from step 0, "
               "or restore the file from a backup")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's text suggests weights_only=False, i.e. running the file's code: never do that
        raise CheckpointError(f"checkpoint {path} holds objects other than tensors and was not loaded "
                              f"(it was not written by VolTA-3D Studio, or was altered); {restart}") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, ... for truncated or damaged files
        raise CheckpointError(f"checkpoint {path} is damaged or truncated ({_first_line(exc)[:200]}); "
                              f"{restart}") from exc
    missing = [k for k in required if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a VolTA training checkpoint (it lacks {', '.join(map(repr, missing))}); "
                              f"{restart}")
    return state
