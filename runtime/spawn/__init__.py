"""Starting containers: the spawner process, the container init, lxc-execute's pid 1.

What happens in a forked container init between fork and exec lives in small
modules with one job each: `request` (what the spawner hands the child),
`handshake` (the step messages on the sync socket), `namespaces`, `resolve` (paths
inside a rootfs), `mounts`, `cgroupfs`, `devices`, `process` (credentials, limits,
fds, exec), `initexe` (pid 1 of an application container: the static C program
`init/trio-lxc-init.c`, exec'd from a sealed memfd) and `child` (the order of
it all, `run_container`).

Nothing here is imported lazily by the child: after `pivot_root` the host's Python
files are out of reach, so the spawner imports `runtime.spawn.child` (which imports
every module it uses) before it forks.
"""
