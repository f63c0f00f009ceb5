"""Unprivileged containers: user namespaces and `lxc.idmap` (issue 12).

A container with `lxc.idmap` lines runs in a user namespace of its own: its child
unshares the user namespace before any other, the daemon (host root) writes the
maps into /proc/PID/uid_map and gid_map from outside, and the child then becomes
the mapped root, so every namespace created after is owned by that user namespace.

- `maps`: parsing and validation of the lxc.idmap lines (the start refuses a bad
  set with one line naming lxc.idmap), and id translation.
- `apply`: the daemon's side of the handshake step, writing the maps of a waiting
  child (and handing it an idmapped rootfs).
- `enter`: the child's side, becoming the mapped root.
- `delegate`: the container's cgroups and terminals given to the mapped root.
- `reach`: which directory keeps the mapped root from its rootfs.
- `idmapped`: `lxc.rootfs.options = idmap=...`, an idmapped rootfs mount.
- `chown`: shifting the ownership of a tree into the mapped range (lxc-create).
- `ids`: container ids to host ids through a running process's maps (lxc-attach).
- `subids`, `usernsexec`: lxc-usernsexec's default maps and its work.
"""
