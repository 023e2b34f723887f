"""The bundled model's sex head through `volta predict`: P(male) in the CSV and JSON, never more
certain than the card's held-out range, and the card's caveat printed before the first scan."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from volta_core.io import sample_scan_path

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "resources" / "models" / "volta3d-hippocampus"


def test_volta_predict_gives_p_male_with_the_cards_caveat(tmp_path: Path) -> None:
    card = json.loads((BUNDLED / "model_card.json").read_text())
    sex = card["heads"]["sex"]
    assert sex["trained"] and "72" in sex["note"] and "19 M / 53 F" in sex["note"]
    assert not card["heads"]["ad"]["trained"]
    done = subprocess.run([sys.executable, "-m", "volta_core.cli", "predict", str(sample_scan_path()),
                           "--out", str(tmp_path), "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"P(male): {sex['note']}" in done.stderr
    row = next(csv.DictReader(open(tmp_path / "results.csv", encoding="utf-8")))
    low, high = sex["probability_range"]
    assert low <= float(row["p_sex_male"]) <= high
    assert row["p_ad"] == "not trained"
