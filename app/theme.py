"""The dark theme: Fusion style with a dark palette, as medical workstations use."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

_COLORS = {
    QPalette.ColorRole.Window: "#1b1f25",
    QPalette.ColorRole.WindowText: "#d6dce4",
    QPalette.ColorRole.Base: "#14171c",
    QPalette.ColorRole.AlternateBase: "#20252c",
    QPalette.ColorRole.ToolTipBase: "#2a3038",
    QPalette.ColorRole.ToolTipText: "#e6ebf1",
    QPalette.ColorRole.Text: "#d6dce4",
    QPalette.ColorRole.Button: "#242a32",
    QPalette.ColorRole.ButtonText: "#d6dce4",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#2f7dd1",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6fb6ff",
    QPalette.ColorRole.PlaceholderText: "#7b8591",
}

_STYLE_SHEET = """
QToolBar { border: none; spacing: 2px; padding: 2px; background: #1b1f25; }
QToolButton { padding: 3px; border-radius: 3px; }
QToolButton:checked { background: #2c4a6e; }
QToolButton:hover { background: #2a3038; }
QStatusBar { background: #14171c; color: #aab4c0; }
QStatusBar QLabel { padding: 0 6px; }
QDockWidget::title { background: #20252c; padding: 4px; }
QMenu::item:selected { background: #2f7dd1; }
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style, dark palette and a few style-sheet touches."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in _COLORS.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7480"))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE_SHEET)
