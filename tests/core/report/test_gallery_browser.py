"""The gallery in a real headless Chromium: mouse clicks, key presses, a typed note, the filters,
local storage across a reload, and the exported qc_marks.tsv read back by read_marks.

Needs Debian's ``chromium`` (``scripts/setup.sh`` installs it); skipped with the reason without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.headless_chromium import HeadlessChromium, find_chromium
from tests.helpers.qc_phantom import LABEL_NAMES, qc_phantom
from volta_core.report.gallery import read_marks, write_gallery
from volta_core.report.qc import write_scan_qc

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="chromium is not installed (apt-get install chromium; scripts/setup.sh does it)")

SCANS = ["sub-01_T1w", "sub-02_ses-1_T1w", "sub-03_T1w", "sub-04_T1w", "sub-05_T1w"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A derivatives-like folder: QC pictures under sub-*/figures, the gallery in qc/index.html."""
    root = tmp_path_factory.mktemp("derivatives")
    rows = []
    for number, scan in enumerate(SCANS):
        row = {"scan_id": scan, "status": "ok", "warnings": [], "hippocampus_left_ml": 3.0 + number / 10,
               "icv_ml": 1500.0 + number}
        if number == 4:
            row.update(status="failed", png="", error="not a head: the image is 40 mm wide")
        else:
            image, labels = qc_phantom((40, 46, 38), (3.0, 3.0, 3.0), hippocampus_scale=1 - number / 10, seed=number)
            png = write_scan_qc(image, labels, (3.0, 3.0, 3.0), root / scan.split("_")[0] / "figures" /
                                f"{scan}_qc.png", LABEL_NAMES)
            row["png"] = png.relative_to(root).as_posix().join(["../", ""])
        if number == 2:
            row["warnings"] = ["low contrast"]
        rows.append(row)
    return write_gallery(root / "qc" / "index.html", rows, title="Browser test cohort"), rows


def _ratings(browser: HeadlessChromium) -> list[str]:
    return browser.evaluate("Array.from(document.querySelectorAll('article.card')).map(c => c.dataset.rating)")


def _visible(browser: HeadlessChromium) -> list[str]:
    return browser.evaluate("Array.from(document.querySelectorAll('article.card')).filter(c => !c.hidden)"
                            ".map(c => c.dataset.scan)")


def test_review_by_mouse_and_keys_then_export_round_trips(cohort: tuple[Path, list[dict]], tmp_path: Path) -> None:
    gallery, rows = cohort
    with HeadlessChromium(download_dir=tmp_path / "downloads", height=1400) as browser:
        browser.open(gallery.as_uri())
        assert browser.evaluate("document.body.dataset.ready") == "1"
        loaded = browser.wait_images()
        assert len(loaded) == 4 and min(loaded) > 300  # every QC picture found through its relative path

        browser.click("#scan-0 .rate.pass")  # mouse
        browser.press("j")  # the first card is current: j moves to the second
        browser.press("f")
        browser.press("n")  # into the second card's note
        browser.type_text("blurry\tmotion <b>é")
        browser.press("Escape")
        browser.press("j")
        browser.press("p")
        browser.press("p")  # a key only sets: still pass
        browser.click("#scan-3 .rate.fail")
        browser.click("#scan-3 .rate.fail")  # a second click undoes
        browser.click("#scan-4 .rate.fail")
        browser.click("#scan-4 textarea.note")
        browser.type_text("re-run with the neck cropped")
        assert _ratings(browser) == ["pass", "fail", "pass", "", "fail"]
        assert "3 reviewed" not in browser.evaluate("document.getElementById('summary').textContent")
        assert "4 reviewed (2 pass, 2 fail)" in browser.evaluate("document.getElementById('summary').textContent")

        for name, expected in (("unreviewed", [SCANS[3]]), ("failed", [SCANS[1], SCANS[4]]),
                               ("warnings", [SCANS[2]]), ("all", SCANS)):
            browser.click(f'.filters button[data-filter="{name}"]')
            assert _visible(browser) == expected, name

        browser.click("#export")
        assert browser.evaluate("document.getElementById('exported').textContent") == \
            "exported 4 marks (1 scans not rated, left out)"
        exported = browser.wait_download()
        assert exported.name == "qc_marks.tsv"
        assert exported.read_text(encoding="utf-8").splitlines()[0] == "scan_id\tqc_rating\tqc_note"
        assert read_marks(exported) == {
            SCANS[0]: {"qc_rating": "pass", "qc_note": ""},
            SCANS[1]: {"qc_rating": "fail", "qc_note": "blurry motion <b>é"},
            SCANS[2]: {"qc_rating": "pass", "qc_note": ""},
            SCANS[4]: {"qc_rating": "fail", "qc_note": "re-run with the neck cropped"},
        }

        browser.open(gallery.as_uri())  # the marks survive a reload (local storage)
        assert _ratings(browser) == ["pass", "fail", "pass", "", "fail"]
        assert browser.evaluate("document.querySelector('#scan-1 textarea.note').value") == "blurry\tmotion <b>é"

        other = write_gallery(gallery.with_name("other.html"), rows, title="Another cohort")  # its own marks
        browser.open(other.as_uri())
        assert _ratings(browser) == ["", "", "", "", ""]
