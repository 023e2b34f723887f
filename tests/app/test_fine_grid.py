"""File > Reopen on a 1 mm grid: a thick-slice scan opened again with its voxels cut to 1 mm, and a
model run on it gives its mask on that grid, still warned about the acquired slice thickness."""

from __future__ import annotations

import numpy as np
import pytest
from app_helpers import open_and_wait
from inference_helpers import run_and_wait

pytestmark = pytest.mark.gui


def test_reopen_thick_scan_on_a_fine_grid_and_run(qtbot, models_dir, window, head_path) -> None:
    from volta_core.preprocess.resample import ACQUIRED_SPACING

    coarse = open_and_wait(qtbot, window, head_path)  # 4 mm voxels
    action = window.file.fine_grid_action
    assert action.isEnabled()
    with qtbot.waitSignal(window.scan_loaded, timeout=60_000) as blocker:
        action.trigger()
    fine = blocker.args[0]
    assert fine.name == "head.mgz (1 mm grid)"
    assert fine.volume.shape == tuple(4 * s for s in coarse.volume.shape)
    assert np.allclose(fine.volume.spacing, 1.0)
    assert fine.volume.metadata[ACQUIRED_SPACING] == pytest.approx((4.0, 4.0, 4.0))
    # the same world: the centre of the first coarse voxel is the mean of its 64 fine ones
    first = fine.volume.voxel_to_world(np.indices((4, 4, 4)).reshape(3, -1).T).mean(axis=0)
    assert np.allclose(first, coarse.volume.voxel_to_world(np.zeros((1, 3)))[0], atol=1e-4)
    assert not action.isEnabled()  # already fine
    assert "head.mgz (1 mm grid)" in window.windowTitle()

    seg = run_and_wait(qtbot, window)
    assert seg.labels.shape == fine.volume.shape
    assert any("4.0 mm slices" in w and "finer grid" in w for w in seg.prediction.quality.warnings)


def test_a_1mm_scan_cannot_be_reopened_finer(qtbot, sample_window) -> None:
    assert not sample_window.file.fine_grid_action.isEnabled()
