"""The model card view shows a recorded training curve as its course, not as 50 numbers."""

from __future__ import annotations

from app.state.model_card_html import card_html


def test_a_curve_in_the_metrics_reads_as_its_course():
    curve = [round(0.02 + i * 0.012, 3) for i in range(50)]
    card = {"name": "m", "metrics": {"real_pretraining": {
        "protocol": "pretrained on real + synthetic",
        "pretraining": {"steps": 2500, "training_curve": {"step": list(range(50, 2550, 50)),
                                                         "teacher_diversity": curve}},
        "fewshot_segmentation": {"by_labelled_maps": {"1": {"pretrained": {"mean": 0.3, "sd": 0.1}}}}}}}
    html = card_html(card)
    assert "teacher diversity" in html and "50 points: 0.02 → 0.32 → 0.608" in html
    assert "0.032, 0.044" not in html  # the whole list is not dumped
    assert "2500" in html and "0.3" in html


def test_a_structures_test_and_the_structures_stage_read_as_tables_not_dumps() -> None:
    import re

    from app.state.model_card_html import card_html

    case = {"map": "map_05", "contrast": "t1", "dice_left": 0.69, "dice_right": 0.75, "dice_amygdala_left": 0.7,
            "registration_quality": 0.52, "warnings": []}
    card = {"name": "m", "architecture": {}, "input": {}, "heads": {},
            "training_data": {"summary": "synthetic", "structures": [
                {"stage": "structures_refine", "config": "configs/x.yaml", "steps": 3600, "synth": {"seed": 3}}]},
            "metrics": {"heldout_individual": {"maps": ["map_05"], "structures": ["hippocampus", "amygdala"],
                                               "cases": [case], "summary": {"t1": {**case, "dice_amygdala_right": 0.8,
                                                                                    "volume_error_left": -0.1}}}}}
    page = re.sub(r"<[^>]+>", " ", card_html(card))
    assert "{'" not in page and "': " not in page
    assert "Structures: structures refine" in page and "3600" in page and "configs/x.yaml" in page
    assert "amygdala" in page and "0.800" in page and "-10 %" in page  # the per-structure summary
    assert "map_05 (t1)" in page and "0.52" in page  # one row per case


def test_a_t1_segmenter_is_named_with_its_gate() -> None:
    from app.state.model_catalog import card_rows

    heads = {"segmentation": {"trained": True, "labels": {"0": "background"},
                              "t1_variant": {"min_template_correlation": 0.5, "weights": "segmentation_t1.safetensors"}}}
    card = {"name": "m", "architecture": {}, "input": {}, "heads": heads}
    assert "a T1 segmenter draws the masks of scans whose template correlation is at least 0.5" in card_html(card)
    assert "T1 segmenter for template correlation >= 0.5" in dict(card_rows(card))["Heads"]
