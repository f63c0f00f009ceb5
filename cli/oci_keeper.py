"""The keeper: the process that stands for a container's pid 1 in the caller's tree.

containerd's shim learns that a task ended by reaping it: it is a child
subreaper, and under runc the container's init is re-parented to it when
`runc create` exits. Here the init belongs to the daemon's spawner (so the
daemon supervises it and a crashed shim takes nothing with it), so `create`
forks a keeper that the shim inherits instead, and whose pid goes in
`--pid-file`. The keeper follows the container on the monitor bus and exits with
its status (the exit code, or 128+N for signal N: what the shim reports either
way) once it is STOPPED. A signal sent to the keeper goes on to the container's
init, as a signal to runc's init pid would.

It holds nothing of the caller (stdio on /dev/null, every other fd closed), so
the shim's pipes see EOF when the container's own processes close them.
"""

from __future__ import annotations

import os
import re
import signal

from runtime.kernel import linux

#: Signals a keeper passes on to the container's init.
FORWARDED = (
    signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
    signal.SIGWINCH, signal.SIGCONT,
)  # fmt: skip
#: The status when the container stopped without an exit being seen (its start failed).
NO_STATUS = 255


def spawn(root: str, container_id: str) -> int:
    """Fork the keeper; return its pid once it follows the container on the bus."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the keeper
        code = NO_STATUS
        try:
            os.close(ready_r)
            code = _keep(root, container_id, ready_w)
        except BaseException:  # noqa: BLE001 - never back into the command's code
            pass
        os._exit(code)
    os.close(ready_w)
    try:
        ready = os.read(ready_r, 1)
    finally:
        os.close(ready_r)
    if ready != b"1":
        os.waitpid(pid, 0)
        raise OSError("the keeper could not follow the container on the monitor bus")
    return pid


def _isolate(keep_fd: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, 65536)
    linux.set_name("oci-keeper")


def _forward(root: str, container_id: str) -> None:
    def handler(signum: int, _frame: object) -> None:
        from runtime.client.control_protocol import Signal
        from runtime.client.daemon_client import open_connection
        from runtime.client.errors import LxcError

        try:
            connection = open_connection(root, autostart=False)
        except (LxcError, OSError):
            return
        try:
            connection.call(Signal(name=container_id, signal=signum))
        except (LxcError, OSError):
            pass
        finally:
            connection.close()

    for sig in FORWARDED:
        signal.signal(sig, handler)


def _keep(root: str, container_id: str, ready: int) -> int:
    from bus.client import BusClient
    from bus.protocol import BusError, ExitEvent, StateEvent, Synced
    from runtime.client.daemon_client import bus_socket

    _isolate(ready)
    _forward(root, container_id)
    client = BusClient(lambda: bus_socket(root), reconnect_timeout=None)
    status: int | None = None
    seen_running = False
    try:
        with client.subscribe(re.escape(container_id)) as events:
            for message in events:
                if isinstance(message, Synced) and ready >= 0:
                    os.write(ready, b"1")
                    os.close(ready)
                    ready = -1
                elif isinstance(message, ExitEvent) and message.name == container_id:
                    status = message.status
                elif isinstance(message, StateEvent) and message.name == container_id:
                    if message.state in ("STARTING", "RUNNING"):
                        seen_running = True
                    elif message.state == "STOPPED" and seen_running:
                        return _code(status)
    except BusError:
        pass
    return _code(status)


def _code(status: int | None) -> int:
    if status is None:
        return NO_STATUS
    return status & 0xFF
