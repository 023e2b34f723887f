"""Help > Quick guide and Help > Keyboard shortcuts.

The shortcut list is read from the menus when it is opened, so it always matches what the keys
really do; the mouse gestures of the views are added by hand.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QMenu, QMenuBar, QTextBrowser, QVBoxLayout, QWidget

GUIDE_DIALOG, SHORTCUTS_DIALOG = "guide_dialog", "shortcuts_dialog"

MOUSE = (("Left click / drag in a slice view", "move the cursor (all views follow)"),
         ("Left drag in edit mode", "paint or erase with the brush"),
         ("Wheel", "next / previous slice"),
         ("Ctrl + wheel", "zoom"),
         ("Middle drag", "pan"),
         ("Right drag", "window / level (contrast)"),
         ("Left drag in the 3D view", "rotate; wheel zooms"))

GUIDE = """
<h2>Quick guide</h2>
<ol>
<li><b>Open a scan</b>: File &gt; Open (NIfTI, MGZ, NRRD, MHA) or File &gt; Open DICOM folder, or drop a file
on the window. File &gt; Open sample scan opens an example. A scan with thick slices (over 1.5 mm) can be
opened again with File &gt; Reopen on a 1 mm grid, so that the mask follows the anatomy rather than the slices.</li>
<li><b>Run the model</b>: choose a model in the toolbar and press Run (Model &gt; Run, Ctrl+R). The scan is
aligned to a template, the model segments both hippocampi and the result is mapped back onto your scan.</li>
<li><b>Read the results</b> in the Results panel: volumes in mL and as % of the intracranial volume, the
asymmetry index, quality figures and warnings. Each number has a <b>?</b> button that says what it is, its
unit, its sign and its thresholds. Read every warning before using a number.</li>
<li><b>Check the mask</b> in the slice views and the 3D view (Model &gt; Go to left / right hippocampus).
The Layers panel shows or hides each overlay; hiding the scan also hides its 3D rendering.</li>
<li><b>Correct it</b>: Edit &gt; Edit mask (Ctrl+E), choose paint left, paint right or erase and a brush size,
then paint with the left mouse button. Ctrl+Z undoes a stroke. Corrections are autosaved while you work and
you are asked before anything could discard them.</li>
<li><b>Compare</b> with a reference: File &gt; Load label map reads FreeSurfer aseg files (17 = left, 53 = right),
masks with 1 = left and 2 = right, and single-label masks (you say which side). Dice appears in the Results panel.</li>
<li><b>Save and export</b>: File &gt; Save mask (Ctrl+S) writes the corrected mask on the scan's grid; File &gt;
Export writes a CSV row or a PDF report. Patient identifiers and the scan's file name and folder are left out
unless you tick the box.</li>
<li><b>Train</b> on your own data: Training &gt; Training panel.</li>
</ol>
<p><b>For research use only. Not for diagnosis.</b> The numbers are model estimates: check the masks.</p>
"""


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """``(menu path, action, keys)`` for every menu action with a shortcut, in menu order."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            sub = action.menu()
            title = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
            if isinstance(sub, QMenu):
                walk(sub, f"{path} > {title}")
            elif isinstance(action, QAction) and not action.shortcut().isEmpty():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                rows.append((path, title, keys))

    for top in menu_bar.actions():
        if isinstance(top.menu(), QMenu):
            walk(top.menu(), top.text().replace("&", ""))
    return rows


def shortcuts_html(menu_bar: QMenuBar) -> str:
    keys = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(a)}</td>"
                   f"<td style='color:#a9b3bf'>{html.escape(m)}</td></tr>" for m, a, k in shortcut_rows(menu_bar))
    mouse = "".join(f"<tr><td><b>{html.escape(g)}</b></td><td>{html.escape(d)}</td></tr>" for g, d in MOUSE)
    return ("<h2>Keyboard shortcuts</h2><table cellpadding='3'>"
            f"<tr><th align='left'>Keys</th><th align='left'>Action</th><th align='left'>Menu</th></tr>{keys}</table>"
            f"<h2>Mouse</h2><table cellpadding='3'>{mouse}</table>")


def _page_dialog(parent: QWidget, title: str, page: str, name: str) -> QDialog:
    dialog = QDialog(parent)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.resize(620, 560)
    layout = QVBoxLayout(dialog)
    browser = QTextBrowser(dialog)
    browser.setObjectName(f"{name}_page")
    browser.setHtml(page)
    layout.addWidget(browser)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def show_guide(parent: QWidget) -> QDialog:
    """The quick guide; returns at once (window-modal)."""
    return _page_dialog(parent, "Quick guide - VolTA-3D Studio", GUIDE, GUIDE_DIALOG)


def show_shortcuts(parent: QWidget, menu_bar: QMenuBar) -> QDialog:
    """Every keyboard shortcut of the menus, and the mouse gestures; returns at once."""
    return _page_dialog(parent, "Keyboard shortcuts - VolTA-3D Studio", shortcuts_html(menu_bar), SHORTCUTS_DIALOG)
