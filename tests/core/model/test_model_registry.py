from __future__ import annotations

import pytest

from volta_core.registry import ENCODERS, HEADS, LOSSES, Registry


def test_register_get_names() -> None:
    reg: Registry[int] = Registry("widget")

    @reg.register("b")
    def make_b() -> int:
        return 2

    reg.register("a")(lambda: 1)
    assert reg.names() == ["a", "b"]
    assert reg.get("b") is make_b
    assert reg.build("a") == 1
    assert "a" in reg and "c" not in reg and len(reg) == 2


def test_unknown_name_lists_valid_names() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha")(lambda: 1)
    with pytest.raises(KeyError, match="Unknown widget 'beta'.*alpha"):
        reg.get("beta")


def test_duplicate_and_empty_names_rejected() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("x")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(lambda: 2)
    with pytest.raises(ValueError):
        reg.register("")
    with pytest.raises(ValueError):
        Registry("")


def test_model_components_are_registered() -> None:
    import volta_core.model  # noqa: F401  (registers on import)

    assert {"vit3d_tiny", "vit3d_small", "vit3d_base", "vit3d_large"} <= set(ENCODERS.names())
    assert {"dino", "unetr", "classifier", "recon_linear"} <= set(HEADS.names())
    assert {"dino_cls", "ibot_patch", "reconstruction"} <= set(LOSSES.names())
