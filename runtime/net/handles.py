"""The container's network namespace, handed from the container child to the daemon.

Right after the child has created the container's network namespace (and sent the
init's pid) it opens two handles *inside* that namespace and passes them to the
daemon over the set-up socket with SCM_RIGHTS, as one `{"step": "netns"}` packet:

- a NETLINK_ROUTE socket (SOCK_DGRAM: asyncio, under pyroute2, insists on it). A
  netlink socket stays bound to the namespace it was created in, so the daemon's
  `IPRoute(fileno=...)` configures the container's devices without entering the
  namespace: no `setns` in the trio process, no fork (pyroute2's `netns=` forks);
- the namespace itself (`/proc/self/ns/net`): the target for creating and moving
  devices (IFLA_NET_NS_FD, no pid races), and a reference that keeps the namespace
  and its devices alive after the container's last process exits, until the daemon
  has given physical devices back to the host.

The child side (`send_handles`) is standard library only: the spawner imports it
before any fork. The daemon side (`receive_handles`) awaits a trio socket.
"""

from __future__ import annotations

import array
import json
import os
import socket

from runtime.client.errors import printable_line

TYPE_CHECKING = False
if TYPE_CHECKING:  # the container child imports this module: no trio there
    import trio

STEP_NETNS = "netns"
NETLINK_ROUTE = 0
MAX_MESSAGE = 65536


class HandlesError(Exception):
    """The handles did not arrive; the message says why."""


def open_handles() -> tuple[socket.socket, int]:
    """A NETLINK_ROUTE socket and a namespace fd for the calling process's netns."""
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        nsfd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        nl.close()
        raise
    return nl, nsfd


def send_handles(sock: socket.socket) -> None:
    """Child side: pass this process's netns handles to the daemon (blocking)."""
    try:
        nl, nsfd = open_handles()
    except OSError as err:
        message = {"step": "error", "message": f"lxc.net: cannot open the network namespace: {err}"}
        sock.send(json.dumps(message).encode())
        return
    try:
        payload = json.dumps({"step": STEP_NETNS}).encode()
        socket.send_fds(sock, [payload], [nl.fileno(), nsfd])
    finally:
        nl.close()
        os.close(nsfd)


async def receive_handles(sync: trio.socket.SocketType) -> tuple[int, int]:
    """Daemon side: (netlink socket fd, netns fd) from the next packet on `sync`.

    `sync` is the daemon's trio socket of the set-up socketpair. The fds are the
    caller's to close.
    """
    data, ancdata, _flags, _ = await sync.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(2 * 4))
    fds: list[int] = []
    for level, kind, blob in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(blob) - len(blob) % 4
            fds.extend(array.array("i", blob[:usable]))
    try:
        message = json.loads(data) if data else None
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("step") != STEP_NETNS or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        if isinstance(message, dict) and message.get("step") == "error":
            raise HandlesError(printable_line(str(message.get("message"))))
        if not data:
            raise HandlesError("the container child exited before it passed its network namespace")
        raise HandlesError(f"expected the network namespace handles, got {data[:60]!r}")
    return fds[0], fds[1]
