"""Dock bodies scroll instead of clipping when the dock is shorter than its contents."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QScrollArea, QWidget


def scrolling(body: QWidget, parent: QWidget) -> QScrollArea:
    """``body`` in a frameless scroll area that scrolls vertically and fits the dock's width."""
    scroll = QScrollArea(parent)
    scroll.setObjectName(f"{parent.objectName()}_scroll")
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    return scroll
