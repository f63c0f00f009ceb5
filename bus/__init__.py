"""The monitor bus: container state events on a Unix socket.

Usable without the runtime. The sans-IO protocol core, the trio server and the
clients arrive with the monitor-bus issue; this package is kept import-free so that
client commands stay fast.
"""
