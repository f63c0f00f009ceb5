"""The `lxc-*` commands: one module per command, LXC 5's flags, output and exit codes.

Clients are thin and synchronous: they must never import trio, pyroute2 or
pyinotify (tests/test_import_rules.py checks this), so they start about as fast as
the bare interpreter.
"""
