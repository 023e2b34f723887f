"""Shared test helpers (synthetic scans, DICOM series writer) reusable by every test folder."""
