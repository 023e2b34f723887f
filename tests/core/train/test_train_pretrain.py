from __future__ import annotations

import numpy as np
import pytest
import torch

from train_helpers import pretrain_cfg, step_losses
from volta_core.model.bundle import load_bundle
from volta_core.model.ssl import NonFiniteLossError
from volta_core.train.checkpoint import load_checkpoint
from volta_core.train.events import read_events
from volta_core.train.pretrain import run_pretraining


def test_tiny_pretraining_learns(tmp_path):
    """Reconstruction falls, and the student matches the teacher better on both objectives.

    The raw DINO/iBOT cross-entropies H(t, s) = H(t) + KL(t || s) rise early in any tiny run because
    centring flattens the teacher (H(t) grows towards log K); the learnable part is KL(t || s).
    """
    res = run_pretraining(pretrain_cfg("steps=30", "optim.lr=1e-3"), tmp_path / "run", stream=None)
    assert res.status == "finished" and res.step == 30
    ev = [e for e in read_events(tmp_path / "run" / "metrics.jsonl") if e["event"] == "step"]
    assert len(ev) == 30

    def first_last(values):
        return np.mean(values[:5]), np.mean(values[-5:])

    recon = first_last([e["loss_recon"] for e in ev])
    kl_global = first_last([e["loss_global"] - e["teacher_entropy"] for e in ev])
    kl_local = first_last([e["loss_local"] - e["teacher_patch_entropy"] for e in ev])
    assert recon[1] < 0.9 * recon[0], recon
    assert kl_global[1] < kl_global[0], kl_global
    assert kl_local[1] < kl_local[0], kl_local
    assert all(abs(e["mask_ratio"] - 0.5) < 1e-6 for e in ev)


def test_run_folder_and_event_protocol(tmp_path):
    run = tmp_path / "run"
    run_pretraining(pretrain_cfg("steps=2", "optim.accumulation=2", "checkpoint_every=1"), run, stream=None)
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.jsonl", "train.log", "checkpoints"}
    ev = read_events(run / "metrics.jsonl")
    assert [e["event"] for e in ev] == ["started", "step", "checkpoint", "step", "checkpoint", "finished"]
    step = ev[1]
    for key in ("step", "epoch", "loss", "loss_global", "loss_local", "loss_recon", "lr", "wd", "momentum",
                "teacher_temp", "volumes_per_s", "eta_s", "data_wait_frac"):
        assert key in step, key
    assert ev[0]["config"]["optim"]["accumulation"] == 2
    assert ev[3]["momentum"] > ev[1]["momentum"] or ev[3]["momentum"] == 1.0
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["step"] == 2 and "optimizer" in ckpt and "torch" in ckpt["rng"]
    card, state = load_bundle(run / "bundle")
    assert card.architecture["model"] == "encoder" and not any(h["trained"] for h in card.heads.values())
    assert all(k.startswith("encoder.") for k in state) and torch.equal(
        state["encoder.pos_embed"], ckpt["model"]["teacher.encoder.pos_embed"])
    with pytest.raises(FileExistsError):
        run_pretraining(pretrain_cfg("steps=2"), run, stream=None)


def test_stop_file_then_resume_matches_uninterrupted_run(tmp_path):
    straight = tmp_path / "straight"
    run_pretraining(pretrain_cfg("steps=6"), straight, stream=None)
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    (interrupted / "STOP").touch()  # honoured after the first step
    first = run_pretraining(pretrain_cfg("steps=6"), interrupted, stream=None)
    assert first.status == "stopped" and first.step == 1
    ev = read_events(interrupted / "metrics.jsonl")
    assert ev[-1]["event"] == "stopped" and ev[-1]["reason"] == "stop-file"
    second = run_pretraining(pretrain_cfg("steps=6"), interrupted, resume=True, stream=None)
    assert second.status == "finished" and second.step == 6
    a = step_losses(read_events(straight / "metrics.jsonl"))
    b = step_losses(read_events(interrupted / "metrics.jsonl"))
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for s in range(1, 7):
        assert b[s] == pytest.approx(a[s], abs=1e-6), (s, a[s], b[s])
    started = [e for e in read_events(interrupted / "metrics.jsonl") if e["event"] == "started"]
    assert [e["resumed"] for e in started] == [False, True] and started[1]["step"] == 1


def test_nan_loss_fails_with_clear_event(tmp_path):
    with pytest.raises(NonFiniteLossError, match="diverged"):
        run_pretraining(pretrain_cfg("steps=5", "optim.lr=1e30", "optim.warmup_steps=0", "optim.grad_clip=0"),
                        tmp_path / "run", stream=None)
    last = read_events(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last["event"] == "failed" and "diverged" in last["message"] and last["error"] == "NonFiniteLossError"


def test_spawned_loader_worker_gives_the_same_batches(tmp_path):
    """Samples and masks are seeded by (seed, epoch, index): a spawned worker changes nothing."""
    run_pretraining(pretrain_cfg("steps=3"), tmp_path / "main", stream=None)
    run_pretraining(pretrain_cfg("steps=3", "data.num_workers=1"), tmp_path / "worker", stream=None)
    a = step_losses(read_events(tmp_path / "main" / "metrics.jsonl"))
    b = step_losses(read_events(tmp_path / "worker" / "metrics.jsonl"))
    assert a.keys() == b.keys() and all(abs(a[s] - b[s]) < 1e-6 for s in a)
