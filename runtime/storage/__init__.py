"""Backing stores of a container's rootfs (LXC's `-B` types), one module per type.

`spec` parses an lxc.rootfs.path value (`dir:`, `overlay:LOWER:UPPER`, `loop:IMAGE`,
...) and says where the rootfs appears; `backends` is the one interface the store
and the commands use to create, copy, snapshot and destroy a rootfs of any type
(`dirstore`, `overlay`, `loop`; `unavailable` refuses btrfs, zfs, lvm and rbd,
naming the missing tool); `childmount` mounts an overlay or loop rootfs in the
container's mount namespace; `deps` keeps LXC's dependency files (lxc_snapshots,
lxc_rdepends); `snapshots` is lxc-snapshot. This package imports nothing heavy:
the container child imports `childmount` before pivot_root.
"""
