"""The gallery page as written (parsed back with the stdlib HTML parser) and read_marks."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from volta_core.report.gallery import read_marks, storage_key, write_gallery

HOSTILE = '<script>alert("x")</script>&amp;'


class _Page(HTMLParser):
    """Collects tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _rows() -> list[dict]:
    return [
        {"scan_id": "sub-01_ses-1_run-1_T1w", "png": "../sub-01/ses-1/figures/sub-01_ses-1_run-1_T1w_qc.png",
         "status": "ok", "warnings": [], "hippocampus_left_ml": 3.214, "hoc_left": 0.81, "icv_ml": "1523.4"},
        {"scan_id": "sub-02_T1w", "png": "../sub-02/figures/sub 02 #1.png", "status": "ok",
         "warnings": "low contrast; thick slices", "hippocampus_left_ml": float("nan")},
        {"scan_id": HOSTILE, "png": "", "status": "failed", "warnings": [HOSTILE], "error": HOSTILE},
    ]


def test_one_card_per_scan_with_relative_pictures_and_no_network(tmp_path: Path) -> None:
    out = write_gallery(tmp_path / "qc" / "index.html", _rows(), title="Cohort A")
    page = _parse(out)
    cards = [attrs for tag, attrs in page.tags if tag == "article"]
    assert [c["data-scan"] for c in cards] == [r["scan_id"] for r in _rows()]  # unescaped back, in order
    assert "failed" in cards[2]["class"] and "has-warnings" in cards[1]["class"]
    assert "failed" not in cards[0]["class"] and "has-warnings" not in cards[0]["class"]
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert images == ["../sub-01/ses-1/figures/sub-01_ses-1_run-1_T1w_qc.png", "../sub-02/figures/sub%2002%20%231.png"]
    for tag, attrs in page.tags:  # offline: nothing loaded from elsewhere
        assert tag not in ("link", "iframe")
        assert not (tag == "script" and attrs.get("src"))
        for value in attrs.values():
            assert not (value or "").startswith(("http:", "https:", "//"))
    text = " ".join(page.text)
    assert "3.21 mL" in text and "1523 mL" in text and "0.81" in text and "n/a" in text
    assert "low contrast" in text and "thick slices" in text
    for key in ("j", "k", "p", "f"):
        assert ("kbd", {}) in page.tags and f">{key}</kbd>" in out.read_text()
    assert "Export marks" in text


def test_every_text_is_escaped(tmp_path: Path) -> None:
    out = write_gallery(tmp_path / "index.html", _rows(), title=HOSTILE)
    page = _parse(out)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 2  # the config block and the page's own script, nothing injected
    config = out.read_text().split('id="gallery-config">', 1)[1].split("</script>", 1)[0]
    assert json.loads(config)["title"] == HOSTILE  # the JSON block cannot be closed by a title
    assert sum(HOSTILE in piece for piece in page.text) >= 4  # title, h1, card title, warning, error shown as text


def test_marks_are_stored_per_gallery(tmp_path: Path) -> None:
    ids = ["sub-01_T1w", "sub-02_T1w"]
    assert storage_key("A", ids) == storage_key("A", list(ids))
    assert len({storage_key("A", ids), storage_key("B", ids), storage_key("A", ids[:1])}) == 3
    out = write_gallery(tmp_path / "index.html", [{"scan_id": i, "png": "", "status": "ok", "warnings": []}
                                                  for i in ids], title="A")
    assert storage_key("A", ids) in out.read_text()


@pytest.mark.parametrize(("rows", "message"), [
    ([{"scan_id": "a"}, {"scan_id": "a"}], "twice"),
    ([{"png": "x.png"}], "no scan_id"),
])
def test_bad_rows_are_refused(tmp_path: Path, rows: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_gallery(tmp_path / "index.html", rows, title="t")
    assert not (tmp_path / "index.html").exists()


def test_an_empty_cohort_still_gives_a_page(tmp_path: Path) -> None:
    assert [t for t, _ in _parse(write_gallery(tmp_path / "index.html", [], title="empty")).tags].count("article") == 0


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "qc_marks.tsv"
    path.write_bytes(data)
    return path


def test_read_marks_tolerates_crlf_bom_blank_lines_and_a_missing_note(tmp_path: Path) -> None:
    data = ("\ufeffscan_id\tqc_rating\tqc_note\r\nsub-01_T1w\tpass\t\r\nsub-02_T1w\tFAIL\tmotion; é <b>\r\n"
            "\r\nsub-03_T1w\tpass\r\n").encode("utf-8")
    assert read_marks(_write(tmp_path, data)) == {
        "sub-01_T1w": {"qc_rating": "pass", "qc_note": ""},
        "sub-02_T1w": {"qc_rating": "fail", "qc_note": "motion; é <b>"},
        "sub-03_T1w": {"qc_rating": "pass", "qc_note": ""},
    }
    reordered = b"qc_note\tscan_id\tqc_rating\textra\nok\tsub-04\tpass\tx\n"
    assert read_marks(_write(tmp_path, reordered)) == {"sub-04": {"qc_rating": "pass", "qc_note": "ok"}}
    assert read_marks(_write(tmp_path, b"scan_id\tqc_rating\tqc_note\n")) == {}


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty file"),
    (b"scan,qc_rating,qc_note\nsub-01,pass,\n", "lacks scan_id"),
    (b"scan_id\tqc_note\nsub-01\tx\n", "lacks qc_rating"),
    (b"scan_id\tqc_rating\tqc_note\nsub-01\tok\t\n", r"line 2: qc_rating of 'sub-01' is 'ok'; it must be 'pass' or 'fail'"),
    (b"scan_id\tqc_rating\tqc_note\nsub-01\t\t\n", "must be 'pass' or 'fail'"),
    (b"scan_id\tqc_rating\tqc_note\n\tpass\t\n", "line 2: no scan_id"),
    (b"scan_id\tqc_rating\tqc_note\nsub-01\tpass\ta\tb\n", "tab inside a note"),
    (b"scan_id\tqc_rating\tqc_note\nsub-01\tpass\t\nsub-01\tfail\t\n", "line 3: 'sub-01' is already marked on line 2"),
    (b"scan_id\tqc_rating\tqc_note\nsub-01\tpass\t\xff\n", "not a UTF-8 text file"),
])
def test_read_marks_names_what_is_wrong(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        read_marks(_write(tmp_path, data))
    assert "qc_marks.tsv" in str(caught.value)


def test_pictures_get_their_size_so_lazy_loading_does_not_shift_the_cards(tmp_path: Path) -> None:
    from matplotlib.image import imsave

    (tmp_path / "figures").mkdir()
    imsave(tmp_path / "figures" / "a_qc.png", [[0.0] * 30] * 20)
    rows = [{"scan_id": "a", "png": "../figures/a_qc.png", "status": "ok", "warnings": []},
            {"scan_id": "b", "png": "../figures/missing.png", "status": "ok", "warnings": []}]
    images = [attrs for tag, attrs in _parse(write_gallery(tmp_path / "qc" / "index.html", rows, title="t")).tags
              if tag == "img"]
    assert (images[0]["width"], images[0]["height"]) == ("30", "20")
    assert "width" not in images[1]
