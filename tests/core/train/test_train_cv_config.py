from __future__ import annotations

import pytest

from volta_core.config import ConfigError, FinetuneConfig, PretrainConfig, apply_overrides, load_config, save_config
from volta_core.train.cv import subject_kfold


def test_folds_never_split_a_subject_and_are_seeded():
    subjects = ["a", "a", "b", "c", "c", "c", "d", "e", "f", "g"]
    folds = subject_kfold(subjects, 3, seed=1)
    seen = set()
    for f in folds:
        val_subjects = {subjects[i] for i in f.val}
        train_subjects = {subjects[i] for i in f.train}
        assert not val_subjects & train_subjects
        assert sorted(f.train + f.val) == list(range(len(subjects)))
        assert not seen & set(f.val)
        seen |= set(f.val)
    assert seen == set(range(len(subjects)))
    assert [f.val for f in subject_kfold(subjects, 3, seed=1)] == [f.val for f in folds]
    assert [f.val for f in subject_kfold(subjects, 3, seed=2)] != [f.val for f in folds]


def test_stratified_folds_keep_classes_apart():
    subjects = [f"s{i}" for i in range(8)]
    labels = ["AD"] * 4 + ["CN"] * 4
    for f in subject_kfold(subjects, 2, seed=0, labels=labels):
        assert sorted(labels[i] for i in f.val) == ["AD", "AD", "CN", "CN"]
    with pytest.raises(ValueError):
        subject_kfold(["a", "b"], 3)


def test_config_file_overrides_and_roundtrip(tmp_path):
    cfg = load_config(PretrainConfig, "configs/pretrain_tiny.yaml", ["optim.lr=1e-4", "steps=7", "ssl.model_kwargs={head_out_dim: 32}"])
    assert cfg.optim.lr == 1e-4 and cfg.steps == 7 and cfg.ssl.model_kwargs == {"head_out_dim": 32}
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(PretrainConfig, tmp_path / "c.yaml") == cfg


def test_config_text_reads_as_the_same_file_would():
    from pathlib import Path

    from volta_core.config import config_from_text

    text = Path("configs/finetune_seg_tiny.yaml").read_text(encoding="utf-8") + "\noptim:\n  lr: 3e-4\n"
    assert config_from_text(FinetuneConfig, text, ["epochs=2"]).optim.lr == 3e-4
    assert config_from_text(FinetuneConfig, "", ["epochs=2"]) == load_config(FinetuneConfig, None, ["epochs=2"])
    with pytest.raises(ConfigError, match="must hold a mapping"):
        config_from_text(FinetuneConfig, "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="unknown config key"):
        config_from_text(FinetuneConfig, "optim:\n  lrr: 1\n")


@pytest.mark.parametrize("override,match", [
    ("optim.lrr=1", "unknown config key"), ("epochs=ten", "epochs: expected int"), ("noequals", "key=value"),
    ("data.size=[1, 2]", "data.size"),
])
def test_bad_overrides_are_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(FinetuneConfig, None, [override])


def test_overrides_never_execute_code():
    with pytest.raises(ConfigError, match="cannot parse"):
        apply_overrides({"a": 1}, ["a=!!python/object/apply:os.system ['true']"])
