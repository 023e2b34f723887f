"""A model card as a readable HTML page: summary, intended use, limitations, heads, training data
and metrics tables (Qt-free; the viewer shows it in a ``QTextBrowser``).

Nothing that looks like an absolute path on the build machine is shown: such paths say nothing to
a reader and can reveal user names and folder layouts, so they are cut to their last two parts.
"""

from __future__ import annotations

import html
import re
from typing import Any

from volta_core.contracts.prediction import INTENDED_USE

# /abs/path/with/parts, ~/path, C:\path or file:// URLs; relative paths (resources/licenses) stay.
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~/-])(?:(?:file://)?/(?:[\w.+@-]+/)+[\w.+@-]*|~/(?:[\w.+@-]+/?)+|[A-Za-z]:\\(?:[\w.+@ -]+\\?)+)")

_SIDE_COLUMNS = (("Dice L", "dice_left", 3), ("Dice R", "dice_right", 3), ("HD95 L (mm)", "hd95_left", 1),
                 ("HD95 R (mm)", "hd95_right", 1), ("Vol. error L", "volume_error_left", None),
                 ("Vol. error R", "volume_error_right", None), ("Reg. quality", "registration_quality", 2),
                 ("OOD", "ood_score", 2))


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path shortened to ``…/<parent>/<name>``."""
    def short(match: re.Match[str]) -> str:
        parts = [p for p in re.split(r"[/\\]+", match.group(0).rstrip("/\\")) if p and p not in ("file:", "~")]
        return "…/" + "/".join(parts[-2:]) if parts else "…"

    return _ABSOLUTE_PATH.sub(short, text)


def _e(value: Any) -> str:
    """Escaped, path-free text of any value."""
    if isinstance(value, float):
        value = f"{value:.4g}"
    return html.escape(scrub_paths(str(value)))


def _number(value: Any, digits: int | None) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-" if value is None else _e(value)
    if digits is None:  # a relative error: as a signed percentage
        return f"{100.0 * value:+.0f} %"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = f"<tr>{''.join(f'<th>{h}</th>' for h in header)}</tr>" if any(header) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table cellspacing='0' cellpadding='4'>{head}{body}</table>"


def _key_values(data: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """A two-column table of a dict (nested dicts flattened into ``a / b`` keys)."""
    rows: list[list[str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in skip:
                    walk(f"{prefix} / {k}" if prefix else str(k), v)
        elif isinstance(value, list) and len(value) > 8 and all(isinstance(v, (int, float)) for v in value):
            # a curve (e.g. a pretraining run's loss per step): its course, not 50 numbers
            rows.append([_e(prefix.replace("_", " ")),
                         _e(f"{len(value)} points: {value[0]:g} → {value[len(value) // 2]:g} → {value[-1]:g}")])
        elif isinstance(value, list) and value and all(isinstance(v, (int, float, str)) for v in value):
            rows.append([_e(prefix.replace("_", " ")), _e(", ".join(str(v) for v in value))])
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value, 1):  # e.g. per-case results: one numbered group each
                walk(f"{prefix} / {i}", item)
        else:
            rows.append([_e(prefix.replace("_", " ")), _e(value)])

    walk("", data)
    return _table(["", ""], rows) if rows else "<p>-</p>"


def _per_side_table(results: dict[str, Any]) -> str:
    """Rows = tests (e.g. clean, thick_3mm ...), columns = per-side metrics present in them."""
    columns = [c for c in _SIDE_COLUMNS if any(isinstance(r, dict) and c[1] in r for r in results.values())]
    rows = []
    for name, result in results.items():
        if not isinstance(result, dict):
            continue
        label = _e(result.get("description") or name)
        rows.append([f"<b>{_e(name)}</b><br><small>{label}</small>" if result.get("description") else label]
                    + [_number(result.get(key), digits) for _title, key, digits in columns])
    return _table(["test"] + [title for title, _k, _d in columns], rows)


def _metrics_html(metrics: dict[str, Any]) -> str:
    parts: list[str] = []
    if metrics.get("protocol"):
        parts.append(f"<p class='note'>{_e(metrics['protocol'])}</p>")
    for name, value in metrics.items():
        if name == "protocol":
            continue
        title = _e(name.replace("_", " ").capitalize())
        if isinstance(value, dict) and isinstance(value.get("summary"), dict) and isinstance(value.get("cases"), list):
            parts.append(f"<h3>{title}</h3>" + _structures_test_html(value))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            parts.append(f"<h3>{title}</h3>" + _per_side_table(value))
        elif isinstance(value, dict) and any(k.endswith(("_left", "_right")) for k in value):
            parts.append(f"<h3>{title}</h3>" + _per_side_table({name: value}))
            extra = {k: v for k, v in value.items() if k in ("protocol",)}
            if extra:
                parts.append(f"<p class='note'>{_e(extra['protocol'])}</p>")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(f"<h3>{title}</h3>" + _list_table(value))
        elif isinstance(value, dict):
            parts.append(f"<h3>{title}</h3>" + _key_values(value))
        else:
            parts.append(f"<p><b>{title}</b>: {_e(value)}</p>")
    return "".join(parts) or "<p>No metrics recorded.</p>"


def _structures_test_html(test: dict[str, Any]) -> str:
    """A held-out test of several structures: per contrast and structure the mean Dice and volume
    error per side, then each case (map, contrast) by its hippocampus numbers."""
    rows = []
    for contrast, mean in test["summary"].items():
        if not isinstance(mean, dict):
            continue
        for structure in test.get("structures") or ["hippocampus"]:
            infix = "" if structure == "hippocampus" else f"_{structure}"
            rows.append([_e(contrast), _e(str(structure).replace("_", " "))]
                        + [_number(mean.get(f"{m}{infix}_{side}"), d) for m, d in (("dice", 3), ("volume_error", None))
                           for side in ("left", "right")])
    summary = _table(["contrast", "structure", "Dice L", "Dice R", "Vol. error L", "Vol. error R"], rows)
    cases = {f"{c.get('map', '?')} ({c.get('contrast', '?')})": {k: v for k, v in c.items() if k != "description"}
             for c in test["cases"] if isinstance(c, dict)}
    return summary + (_per_side_table(cases) if cases else "")


def _list_table(items: list[dict[str, Any]]) -> str:
    """A list of records (e.g. pretrained vs scratch per number of labelled volumes) as a table."""
    def cell(value: Any) -> str:
        if isinstance(value, dict) and "mean" in value:
            sd = value.get("sd")
            n = value.get("n_seeds") or value.get("n")
            return (f"{value['mean']:.3f}" + (f" ± {sd:.3f}" if isinstance(sd, (int, float)) else "")
                    + (f" (n={n})" if n else ""))
        return _number(value, 3) if isinstance(value, float) else _e(value)

    keys: list[str] = []
    for item in items:
        keys += [k for k in item if k not in keys]
    return _table([_e(k.replace("_", " ")) for k in keys], [[cell(item.get(k)) for k in keys] for item in items])


def _heads_html(heads: dict[str, Any]) -> str:
    rows = []
    for head, info in heads.items():
        info = info or {}
        state = "trained" if info.get("trained") else "<span class='warn'>not trained: fine-tune on your data</span>"
        if isinstance(info.get("t1_variant"), dict):  # a second segmenter for T1-weighted scans
            state += _e(f"; a T1 segmenter draws the masks of scans whose template correlation is at least "
                        f"{info['t1_variant'].get('min_template_correlation', '?')}")
        labels = ", ".join(f"{_e(k)} = {_e(v)}" for k, v in (info.get("labels") or {}).items())
        rows.append([f"<b>{_e(head)}</b>", state, labels or "-"])
    return _table(["head", "state", "labels"], rows) if rows else "<p>-</p>"


def _training_html(data: dict[str, Any]) -> str:
    parts = []
    if data.get("summary"):
        parts.append(f"<p><b>{_e(data['summary'])}</b></p>")
    shown = ("source", "objective", "task", "steps", "epochs", "n_volumes", "n_train", "n_val", "mode", "init")
    for stage in ("pretraining", "fine_tuning"):
        info = data.get(stage)
        if isinstance(info, dict):
            keep = {k: v for k, v in info.items() if k in shown}
            parts.append(f"<h3>{stage.replace('_', '-').capitalize()}</h3>" + _key_values(keep))
    structures = data.get("structures")  # the recipe's structures stage, in parts
    if isinstance(structures, list):
        for part in (p for p in structures if isinstance(p, dict)):
            keep = {k: v for k, v in part.items() if k in ("config", *shown)}
            parts.append(f"<h3>Structures: {_e(str(part.get('stage', '')).replace('_', ' '))}</h3>"
                         + _key_values(keep))
    sources = data.get("sources")
    if isinstance(sources, dict) and sources:
        parts.append("<h3>Data sources and licences</h3>"
                     + _table(["source", "licence"], [[_e(k), _e(v)] for k, v in sources.items()]))
    rest = {k: v for k, v in data.items() if k not in ("summary", "pretraining", "fine_tuning", "structures", "sources")}
    if rest:
        parts.append(_key_values(rest))
    return "".join(parts) or "<p>-</p>"


_STYLE = """<style>
body { font-size: 10pt; }
h1 { font-size: 16pt; margin-bottom: 2px; }
h2 { font-size: 12pt; color: #8fb8e8; margin-top: 14px; margin-bottom: 4px; }
h3 { font-size: 10.5pt; margin-top: 8px; margin-bottom: 2px; }
table { border-collapse: collapse; margin: 2px 0 6px 0; }
th { background: #2b313a; text-align: left; border: 1px solid #4a525e; }
td { border: 1px solid #3a414b; vertical-align: top; }
.use { color: #ffcf70; font-weight: bold; }
.warn { color: #ffb347; }
.note { color: #a9b3bf; }
</style>"""


def card_html(card: dict[str, Any]) -> str:
    """The model card as one HTML page (Qt rich text), with absolute paths cut short."""
    arch = card.get("architecture") or {}
    inp = card.get("input") or {}
    size = inp.get("size")
    size_text = " × ".join(str(s) for s in size) if isinstance(size, list) else _e(size or "-")
    spacing = inp.get("spacing_mm")
    spacing_text = " × ".join(f"{s:g}" for s in spacing) if isinstance(spacing, list) else _e(spacing or "-")
    parts = [_STYLE, f"<h1>{_e(card.get('name', 'Model'))}</h1>",
             f"<p class='note'>Created {_e(card.get('created', '-'))} · code {_e(card.get('code_version', '-'))}</p>",
             "<h2>Intended use</h2>",
             f"<p class='use'>{_e(card.get('intended_use', INTENDED_USE))}</p>",
             "<p><b>For research use only. Not for diagnosis.</b></p>"]
    limitations = card.get("limitations") or []
    if limitations:
        parts.append("<h2>Limitations</h2><ul>" + "".join(f"<li>{_e(x)}</li>" for x in limitations) + "</ul>")
    parts.append("<h2>Heads</h2>" + _heads_html(card.get("heads") or {}))
    parts.append("<h2>Model and input</h2>" + _table(["", ""], [
        ["Architecture", f"{_e(arch.get('model', '-'))} on a {_e(arch.get('encoder', '-'))} encoder"],
        ["Input", f"{size_text} voxels at {spacing_text} mm, {_e(inp.get('space', 'native'))} space"
                  + (f", region: {_e(inp['roi'])}" if inp.get("roi") else "")],
        ["Normalisation", _e(inp.get("normalisation", "-"))],
    ]))
    parts.append("<h2>Training data</h2>" + _training_html(card.get("training_data") or {}))
    parts.append("<h2><a name='metrics'></a>Metrics</h2>" + _metrics_html(card.get("metrics") or {}))
    recipe = card.get("recipe")
    if isinstance(recipe, dict) and recipe:
        keep = {k: v for k, v in recipe.items() if k in ("command", "preset", "code_version", "training_seconds")}
        parts.append("<h2>How it was built</h2>" + _key_values(keep))
    parts.append(f"<h2>Licence</h2><p>{_e(card.get('licence', '-'))}</p>")
    return "".join(parts)
