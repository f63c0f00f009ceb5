"""The runtime daemon: `python -m runtime.daemon --lxcpath PATH` (see app.py)."""
