"""`lxc-device add|del` in the daemon: host interfaces and device nodes for a running container.

LXC's rules: DEVICE is a network interface if one of that name exists (on the host
for `add`, in the container for `del`), else a device node path. An interface is
moved into the container's network namespace under NAME_IN_CONTAINER (default:
its own name) with one netlink request, or back to the host the same way. A device
node is allowed in the container's devices cgroup (`c|b MAJOR:MINOR rwm`, the v1
devices hierarchy) and made inside at NAME_IN_CONTAINER (default: DEVICE's path)
with the host node's major/minor; `del` removes it and denies it again.

Work inside the container's namespaces is done by runtime/daemon/device_helper.py in a
process of its own; the host side (interface lookup and move in, cgroup files)
here, blocking netlink in a worker thread as runtime/net does.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio

from runtime.client.control_protocol import Device, Done, ErrorReply
from runtime.daemon import lifecycle as lc
from runtime.daemon.cgroup_ops import cgroup_set
from runtime.daemon.op_reply import FAILED, NOT_RUNNING, OpError, answer

if TYPE_CHECKING:
    from runtime.daemon.supervisor import Supervisor

#: A container whose init runs: namespaces and cgroups exist.
_LIVE = (lc.RUNNING, lc.FREEZING, lc.FROZEN, lc.THAWED)


#: How long the helper in the container's namespaces may take.
HELPER_TIMEOUT = 30.0


class MovedInterfaces:
    """The ifindexes `add` moved into one container's network namespace (its inode);
    `del` moves back only those. Each supervisor owns one (`supervisor.
    moved_interfaces`). Lost with the daemon: a re-adopted container's interfaces
    cannot be moved back with lxc-device."""

    def __init__(self) -> None:
        self.netns: int | None = None
        self.ifindexes: set[int] = set()

    def of(self, netns: int) -> set[int]:
        """Those moved into the namespace `netns` (a reboot's new one starts empty)."""
        if self.netns != netns:
            self.netns, self.ifindexes = netns, set()
        return self.ifindexes


def _added(supervisor: Supervisor, netns: int) -> set[int]:
    """The ifindexes `add` moved into the namespace `netns` of this container."""
    return supervisor.moved_interfaces.of(netns)


class DeviceError(OpError):
    """A device request failed (the reply's `kind` is FAILED)."""

    def __init__(self, message: str) -> None:
        super().__init__(FAILED, message)


def _host_interface_index(name: str) -> int | None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _move_in(index: int, nsfd: int, target: str) -> None:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with IPRoute() as ipr:
        try:
            ipr.link("set", index=index, net_ns_fd=nsfd, ifname=target)
        except NetlinkError as err:
            raise DeviceError(f"cannot move it into the container as '{target}': {err.args[-1]}") from None


def _interface_inside(pid: int, name: str) -> bool:
    """/proc/PID/net/dev lists the interfaces of the process's network namespace."""
    try:
        with open(f"/proc/{pid}/net/dev", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()[2:]
    except OSError:
        return False
    return any(line.split(":", 1)[0].strip() == name for line in lines)


def _node_rule(device: str) -> str:
    """`c MAJOR:MINOR` of a host device node; DeviceError if DEVICE is none."""
    try:
        found = os.stat(device)
    except OSError as err:
        raise DeviceError(f"'{device}' is neither a network interface nor a device node: {err.strerror}") from None
    if stat.S_ISCHR(found.st_mode):
        kind = "c"
    elif stat.S_ISBLK(found.st_mode):
        kind = "b"
    else:
        raise DeviceError(f"'{device}' is neither a network interface nor a device node")
    return f"{kind} {os.major(found.st_rdev)}:{os.minor(found.st_rdev)}"


async def _helper(pid: int, *args: str) -> str:
    """Run runtime.daemon.device_helper with the host's and `pid`'s namespaces as fds."""
    fds = [os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)]
    try:
        fds.append(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
        fds.append(os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
        argv = [sys.executable, "-m", "runtime.daemon.device_helper", ",".join(map(str, fds)), *args]
        try:  # a FUSE mount in the container could hang the helper: it is killed
            with trio.fail_after(HELPER_TIMEOUT):
                result = await trio.run_process(
                    argv, pass_fds=fds, check=False, capture_stderr=True, capture_stdout=True
                )
        except trio.TooSlowError:
            raise DeviceError(f"the device helper did not finish in {HELPER_TIMEOUT:g} seconds") from None
    finally:
        for fd in fds:
            os.close(fd)
    if result.returncode != 0:
        raise DeviceError(result.stderr.decode(errors="replace").strip() or "the device helper failed")
    return result.stdout.decode(errors="replace")


async def add(supervisor: Supervisor, device: str, target: str) -> None:
    pid = supervisor.pid
    assert pid is not None  # request_device: a live container
    index = await trio.to_thread.run_sync(_host_interface_index, device)
    if index is not None:
        nsfd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            netns = os.fstat(nsfd).st_ino
            await trio.to_thread.run_sync(_move_in, index, nsfd, target)
        finally:
            os.close(nsfd)
        inside = int((await _helper(pid, "net-index", target)).strip())
        _added(supervisor, netns).add(inside)
        return
    rule = _node_rule(device)
    cgroup_set(supervisor, "devices.allow", f"{rule} rwm")
    try:
        await _helper(pid, "node-add", rule.replace(" ", ":"), target)
    except BaseException:
        cgroup_set(supervisor, "devices.deny", f"{rule} rwm")
        raise


async def delete(supervisor: Supervisor, device: str, target: str) -> None:
    pid = supervisor.pid
    assert pid is not None  # request_device: a live container
    if _interface_inside(pid, device):
        added = _added(supervisor, os.stat(f"/proc/{pid}/ns/net").st_ino)
        output = await _helper(pid, "net-del", device, target, ",".join(map(str, sorted(added))))
        index = int(output.strip())
        added.discard(index)
        return
    rule = _node_rule(device)
    await _helper(pid, "node-del", target)
    cgroup_set(supervisor, "devices.deny", f"{rule} rwm")


async def request_device(supervisors: Mapping[str, Supervisor], request: Device) -> Done | ErrorReply:
    """lxc-device's request (fields checked by runtime.client.control_protocol)."""

    async def work() -> Done:
        supervisor = supervisors.get(request.name)
        if supervisor is None or supervisor.state not in _LIVE or not supervisor.pid:
            raise OpError(NOT_RUNNING, f"{request.name} is not running")
        target = request.target or request.device
        if request.action == "add":
            await add(supervisor, request.device, target)
        else:
            await delete(supervisor, request.device, target)
        return Done()

    return await answer(work)
