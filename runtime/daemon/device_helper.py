"""Helper process: the part of `lxc-device` that must run inside a container's namespaces.

`python -m runtime.daemon.device_helper HOSTNET,NET,MNT OP ARGS...`: the first argument
names three inherited fds: the host's network namespace, the container's, and the
container's mount namespace. The daemon (runtime/daemon/device.py) runs it so that the trio process
never calls setns (it would move whichever thread runs it); a fresh process is
single-threaded, which setns(CLONE_NEWNS) requires.

- `net-index`: print the ifindex of TARGET in the container (after `add` moved it);
- `net-del DEVICE TARGET INDEXES`: enter the container's network namespace and give
  DEVICE back to the host under the name TARGET (down first, as LXC does), only if
  its ifindex is one of INDEXES (comma-separated: those `add` moved in): a veth end
  the container made and named DEVICE would put its peer's pair on the host;
- `node-add MODE:MAJOR:MINOR`: enter the container's mount namespace (its root
  becomes ours, so every path resolves inside the container) and make the node
  TARGET with its parents, walked without following symlinks (we are host root);
- `node-del`: the same, and remove TARGET if it is a device node.

A failure is one line on stderr and exit 1.
"""

from __future__ import annotations

import os
import stat
import sys

from runtime.kernel import linux

#: Set by main from the first argument.
HOST_NET_FD = CONTAINER_NET_FD = CONTAINER_MNT_FD = -1


def net_index(target: str) -> None:
    from pyroute2 import IPRoute

    linux.setns(CONTAINER_NET_FD, linux.CLONE_NEWNET)
    with IPRoute() as inside:
        found = inside.link_lookup(ifname=target)
    if not found:
        raise RuntimeError(f"no interface '{target}' in the container after the move")
    sys.stdout.write(f"{found[0]}\n")


def net_del(device: str, target: str, indexes: str) -> None:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    allowed = {int(index) for index in indexes.split(",") if index}
    linux.setns(CONTAINER_NET_FD, linux.CLONE_NEWNET)
    with IPRoute() as inside:
        found = inside.link_lookup(ifname=device)
        if not found:
            raise RuntimeError(f"no interface '{device}' in the container")
        if found[0] not in allowed:
            raise RuntimeError(f"'{device}' was not added by lxc-device, not moving it to the host")
        try:
            inside.link("set", index=found[0], state="down")
            inside.link("set", index=found[0], net_ns_fd=HOST_NET_FD, ifname=target)
        except NetlinkError as err:
            raise RuntimeError(f"cannot move '{device}' to the host as '{target}': {err.args[-1]}") from None
    sys.stdout.write(f"{found[0]}\n")


def _enter_mounts() -> None:
    linux.setns(CONTAINER_MNT_FD, linux.CLONE_NEWNS)
    os.chdir("/")


def _parent(target: str, *, create: bool) -> tuple[int, str]:
    """(fd of TARGET's directory, last component), walked from the container's root
    one component at a time with O_NOFOLLOW: a symlink the container planted on the
    way is refused, never followed as host root (and `..` is refused)."""
    parts = [part for part in target.split("/") if part and part != "."]
    if not parts or ".." in parts:
        raise RuntimeError(f"'{target}' is not a usable path in the container")
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                inner = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except (NotADirectoryError, FileNotFoundError) as err:
                raise RuntimeError(f"'{target}': '{part}' in the container is not a directory ({err.strerror})") from None
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def node_add(spec: str, target: str) -> None:
    kind, major, minor = spec.split(":")
    mode = (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o660
    _enter_mounts()
    fd, leaf = _parent(target, create=True)
    try:
        os.mknod(leaf, mode, os.makedev(int(major), int(minor)), dir_fd=fd)
    except FileExistsError:
        raise RuntimeError(f"'{target}' already exists in the container") from None
    finally:
        os.close(fd)


def node_del(target: str) -> None:
    _enter_mounts()
    try:
        fd, leaf = _parent(target, create=False)
    except RuntimeError:
        raise RuntimeError(f"no '{target}' in the container") from None
    try:
        try:
            found = os.lstat(leaf, dir_fd=fd)
        except FileNotFoundError:
            raise RuntimeError(f"no '{target}' in the container") from None
        if not (stat.S_ISCHR(found.st_mode) or stat.S_ISBLK(found.st_mode)):
            raise RuntimeError(f"'{target}' in the container is not a device node")
        os.unlink(leaf, dir_fd=fd)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    global HOST_NET_FD, CONTAINER_NET_FD, CONTAINER_MNT_FD
    args = sys.argv[1:] if argv is None else argv
    try:
        HOST_NET_FD, CONTAINER_NET_FD, CONTAINER_MNT_FD = (int(fd) for fd in args[0].split(","))
        args = args[1:]
        if args[0] == "net-index":
            net_index(args[1])
        elif args[0] == "net-del":
            net_del(args[1], args[2], args[3])
        elif args[0] == "node-add":
            node_add(args[1], args[2])
        elif args[0] == "node-del":
            node_del(args[1])
        else:
            raise RuntimeError(f"unknown operation '{args[0]}'")
    except (RuntimeError, OSError, IndexError, ValueError) as err:
        sys.stderr.write(f"{err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
