"""What the lxc-* commands import: standard library only, cheap at start-up.

Reaching the daemon (control, control_protocol, daemon_client), reading what
it writes (rundir, records, status, locks), waiting on the bus (state_wait),
the lxcpath and its names, the cgroup files and figures the commands read
themselves, LXC's own running containers, the error types with LXC's exit
codes. Nothing here imports trio, pyroute2, attrs, cattrs, pyinotify, the
daemon or the spawner at import: tests/test_import_rules.py checks it.
"""
