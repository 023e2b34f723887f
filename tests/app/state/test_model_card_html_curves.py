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
