"""Where the app keeps its settings (window geometry, layout, recent files ...)."""

from __future__ import annotations

import os

from PyQt6.QtCore import QSettings

ORGANIZATION = "VolTA-3D"
APPLICATION = "Studio"
#: Point this at an .ini file to keep settings elsewhere (tests use a temporary file).
SETTINGS_ENV = "VOLTA_STUDIO_SETTINGS"


def open_settings() -> QSettings:
    """The user's settings: ``$VOLTA_STUDIO_SETTINGS`` (an .ini file) if set, else the platform's
    native store under organisation "VolTA-3D", application "Studio"."""
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)
