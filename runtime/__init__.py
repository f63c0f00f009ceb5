"""trio-lxc runtime: configuration, container store, and (later) the daemon.

Client commands import submodules of this package on their start-up path, so this
file imports nothing: every heavy dependency (trio, pyroute2, pyinotify, attrs,
cattrs) is imported only by the modules that need it.
"""
