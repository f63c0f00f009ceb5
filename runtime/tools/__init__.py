"""Engines of commands that run in their own process, without the daemon:
lxc-checkconfig (checkconfig), lxc-unshare (unshare), lxc-exporter (exporter),
lxc-autostart's choice and order (autostart), and `python -m
runtime.tools.subreaper -- CMD`, which reaps what CMD leaves.
"""
