"""The Help menu: the quick guide, the keyboard shortcuts (read from the menu bar) and About."""

from __future__ import annotations

from PyQt6.QtGui import QAction, QKeySequence

from app import __version__, dialogs, help_dialogs
from app.features.shell import Shell


class HelpFeature:
    def __init__(self, shell: Shell) -> None:
        window = shell.widget
        self.guide = QAction("&Quick guide", window)
        self.guide.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.guide.triggered.connect(lambda: help_dialogs.show_guide(window))
        self.shortcuts = QAction("&Keyboard shortcuts", window)
        self.shortcuts.triggered.connect(lambda: help_dialogs.show_shortcuts(window, window.menuBar()))
        self.about = QAction("&About VolTA-3D Studio", window)
        self.about.triggered.connect(lambda: dialogs.show_about(window, __version__))
        shell.add_to_menu("&Help", "guide", [self.guide, self.shortcuts])
        shell.add_to_menu("&Help", "about", [self.about])
