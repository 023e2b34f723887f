"""Dock widgets that observe and set state."""
