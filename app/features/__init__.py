"""One module per menu group (file, view, edit, export, inference, training, help) and the
unsaved-corrections guard. Each gets the scene and a ``Shell`` (see ``shell.py``), never the window
or another feature."""
