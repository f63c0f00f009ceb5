"""The daemon's side of the spawner (runtime.spawn.spawner): start it, talk to it, keep it.

The daemon connects to `<rundir>/spawner.sock`; if nothing listens there it starts
the spawner (fork+exec of a fresh interpreter: the trio process never runs Python
in a forked child) and waits for its ready byte. A spawner that outlived a crashed
daemon is simply reconnected to, and its `hello` hands over the exits it queued
while no daemon was there. The messages are runtime.spawn.messages.

`SpawnerLink` is one connection. `Spawner` is what the supervisors use: it keeps a
link alive for the daemon's whole life, starting a new spawner (with back-off) when
the link is lost, so a start after the spawner died waits for its successor
instead of failing with a broken pipe; and it keeps the exits every link reported.
Exits are delivered per pid: `await spawner.wait_exit(pid)` returns the wait
status. An exit reported before anyone waits for it is kept, so the order in which
the supervisor learns a pid and the child exits does not matter.

When a spawner dies, the container inits it was the parent of are re-parented to
its nearest subreaper ancestor: this daemon if the daemon started that spawner (the
daemon is a child subreaper), which then reaps them itself through their pidfds
(runtime.daemon.supervisor). A spawner inherited from an earlier daemon has another
ancestor, so its orphans' statuses are lost to us: those are published as unknown.
"""

from __future__ import annotations

import array
import logging
import os
import socket
import struct
import sys
from collections.abc import Callable

import trio

from runtime.daemon import fd_limit
from runtime.spawn import messages as m

log = logging.getLogger("trio-lxc.spawner")

PACKET = 1 << 20


class SpawnError(Exception):
    """The spawner could not fork a container child; the message says why."""


class SpawnerLink:
    """One connection to the spawner, with a reader task that routes its messages."""

    def __init__(
        self, sock: trio.socket.SocketType, on_exit: Callable[[int, int], None] | None = None
    ) -> None:
        self.sock = sock
        self.on_exit = on_exit
        self._exits: dict[int, int] = {}
        self._exit_events: dict[int, trio.Event] = {}
        self._replies: dict[int, m.Spawned | m.SpawnFailed] = {}
        self._reply_events: dict[int, trio.Event] = {}
        self._next_id = 0
        #: One sender at a time: concurrent starts would otherwise both wait for the
        #: socket to be writable ("another task is already writing this fd").
        self._send_lock = trio.Lock()
        self.hello = trio.Event()
        self.closed = trio.Event()
        #: The spawner process when this daemon started it (None when reconnected).
        self.process: trio.Process | None = None
        #: The spawner's pid, whoever started it (SO_PEERCRED).
        self.peer_pid = _peer_pid(sock)

    # -- connecting -------------------------------------------------------------
    @classmethod
    async def connect_or_start(
        cls, socket_path: str, on_exit: Callable[[int, int], None] | None = None
    ) -> SpawnerLink:
        sock = await _connect(socket_path)
        process = None
        if sock is None:
            process = await _start_spawner(socket_path)
            sock = await _connect(socket_path)
        if sock is None:
            raise SpawnError(f"the spawner did not start (no listener at {socket_path})")
        link = cls(sock, on_exit)
        link.process = process
        return link

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read the spawner's messages until it hangs up."""
        task_status.started()
        try:
            while True:
                data = await self.sock.recv(PACKET)
                if not data:
                    break
                try:
                    message = m.decode(data)
                except m.LinkProtocolError as err:
                    log.error("the spawner sent a bad message (%s): hanging up", err)
                    break
                if message is not None:
                    self._dispatch(message)
        finally:
            self.closed.set()
            for event in self._exit_events.values():
                event.set()
            for event in self._reply_events.values():
                event.set()

    def _dispatch(self, message: m.Message) -> None:
        if isinstance(message, m.Hello):
            for item in message.exits:
                self._record_exit(item.pid, item.status)
            self.hello.set()
        elif isinstance(message, m.Exited):
            self._record_exit(message.pid, message.status)
        elif isinstance(message, m.Spawned | m.SpawnFailed):
            self._replies[message.id] = message
            event = self._reply_events.get(message.id)
            if event is not None:
                event.set()

    def _record_exit(self, pid: int, status: int) -> None:
        if self.on_exit is not None:
            self.on_exit(pid, status)
            return
        self._exits[pid] = status
        event = self._exit_events.get(pid)
        if event is not None:
            event.set()

    # -- requests ---------------------------------------------------------------
    async def spawn(self, request: m.SpawnRequest, fds: list[int]) -> int:
        """Ask for a container child; returns the pid of the forked child A."""
        self._next_id += 1
        request_id = self._next_id
        event = self._reply_events[request_id] = trio.Event()
        data = m.encode(m.Spawn(id=request_id, request=request))
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        try:
            async with self._send_lock:
                await self.sock.sendmsg([data], ancillary)
        except BaseException:
            del self._reply_events[request_id]
            raise
        await event.wait()
        del self._reply_events[request_id]
        reply = self._replies.pop(request_id, None)
        if reply is None:
            raise SpawnError("the spawner went away during the start")
        if isinstance(reply, m.SpawnFailed):
            raise SpawnError(reply.error)
        return reply.pid

    async def wait_exit(self, pid: int) -> int | None:
        """Wait for the spawner to report `pid`'s exit; None if the spawner went away."""
        while pid not in self._exits:
            if self.closed.is_set():
                return None
            event = self._exit_events.setdefault(pid, trio.Event())
            await event.wait()
            self._exit_events.pop(pid, None)
        return self._exits.pop(pid)

    async def aclose(self) -> None:
        """Hang up; a spawner we started exits once it has no children, and is reaped."""
        self.sock.close()
        if self.process is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await self.process.wait()


#: Most exits kept for pids nobody claimed (the forked "A" children, aborted starts).
MAX_UNCLAIMED_EXITS = 1024
#: Back-off between spawner restarts: doubles from the first figure up to the second.
RESTART_BACKOFF = (0.05, 5.0)
#: A link that lived this long resets the back-off.
STABLE_AFTER = 30.0


class Spawner:
    """The daemon's spawner for its whole life: one link at a time, restarted when lost."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.link: SpawnerLink | None = None
        self._linked = trio.Event()
        self._exits: dict[int, int] = {}
        self._exit_events: dict[int, trio.Event] = {}
        #: The scopes `cancel_on_exit` cancels when a pid's exit is reported.
        self._exit_scopes: dict[int, trio.CancelScope] = {}
        #: How many times a lost spawner was replaced (the tests look at it).
        self.restarts = 0
        #: The pid of the last spawner linked to (it may outlive us: it has children).
        self.last_pid: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a link; `started` once the first one said hello (or failed to)."""
        delay = RESTART_BACKOFF[0]
        started = False
        while True:
            try:
                link = await SpawnerLink.connect_or_start(self.socket_path, self._record_exit)
            except (SpawnError, OSError, trio.TooSlowError) as err:
                log.error("cannot start the spawner: %s; again in %.2f s", err, delay)
                if not started:
                    task_status.started()
                    started = True
                await trio.sleep(delay)
                delay = min(delay * 2, RESTART_BACKOFF[1])
                continue
            since = trio.current_time()
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(link.run)
                    with trio.move_on_after(5):
                        await link.hello.wait()
                    self.link = link
                    self.last_pid = link.peer_pid
                    self._linked.set()
                    if not started:
                        task_status.started()
                        started = True
                    await link.closed.wait()
            finally:
                self.link = None
                self._linked = trio.Event()
                await link.aclose()  # reaps a spawner this daemon started (shielded)
            if trio.current_time() - since > STABLE_AFTER:
                delay = RESTART_BACKOFF[0]
            self.restarts += 1
            log.warning("the spawner went away; starting another in %.2f s", delay)
            await trio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF[1])

    async def spawn(self, request: m.SpawnRequest, fds: list[int]) -> int:
        """Fork a container child through the current link (waiting for one if it is
        being replaced); returns the pid of the forked child A."""
        with trio.move_on_after(10):
            while self.link is None:
                await self._linked.wait()
        if self.link is None:
            raise SpawnError("no spawner is running (see the daemon's log)")
        return await self.link.spawn(request, fds)

    def _record_exit(self, pid: int, status: int) -> None:
        self._exits[pid] = status
        while len(self._exits) > MAX_UNCLAIMED_EXITS:
            del self._exits[next(iter(self._exits))]
        event = self._exit_events.pop(pid, None)
        if event is not None:
            event.set()
        scope = self._exit_scopes.pop(pid, None)
        if scope is not None:
            scope.cancel()

    def cancel_on_exit(self, pid: int, scope: trio.CancelScope) -> None:
        """Cancel `scope` once some spawner reports `pid`'s exit (at once if one did);
        `forget_exit_scope` when the wait is over. So one task waits for the report
        and for something else together (runtime.daemon.init_wait: the init's pidfd)
        without a nursery and a second task per container."""
        if pid in self._exits:
            scope.cancel()
        else:
            self._exit_scopes[pid] = scope

    def forget_exit_scope(self, pid: int, scope: trio.CancelScope) -> None:
        if self._exit_scopes.get(pid) is scope:
            del self._exit_scopes[pid]

    async def wait_gone(self, timeout: float) -> bool:
        """After the daemon hung up: wait (at most `timeout` s) for the last spawner to
        exit, which it does once it has no children; False if it still runs."""
        if self.last_pid is None:
            return True
        try:
            pidfd = os.pidfd_open(self.last_pid)
        except ProcessLookupError:
            return True
        try:
            with trio.move_on_after(timeout):
                await trio.lowlevel.wait_readable(pidfd)
                return True
            return False
        finally:
            os.close(pidfd)

    def take_exit(self, pid: int) -> int | None:
        """The wait status a spawner reported for `pid` (and forget it), if any."""
        return self._exits.pop(pid, None)

    async def wait_exit(self, pid: int) -> int:
        """Wait until some spawner reports `pid`'s exit (forever if none is its parent:
        the caller races this with the init's pidfd)."""
        while pid not in self._exits:
            event = self._exit_events.setdefault(pid, trio.Event())
            await event.wait()
        return self._exits.pop(pid)


def _peer_pid(sock: trio.socket.SocketType) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[0])


async def _connect(path: str) -> trio.socket.SocketType | None:
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        await sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


async def _start_spawner(socket_path: str) -> trio.Process:
    """Start the spawner in a new session and wait for its ready byte."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        argv = [sys.executable, "-m", "runtime.spawn.spawner", "--socket", socket_path,
                "--ready-fd", str(write_fd)]  # fmt: skip
        process = await trio.lowlevel.open_process(
            argv,
            pass_fds=(write_fd,),
            start_new_session=True,
            stdin=subprocess_devnull(),
            stdout=subprocess_devnull(),
            stderr=None,
        )
        os.close(write_fd)
        write_fd = -1
        fd_limit.restore_nofile(process.pid)  # containers get the daemon's inherited limit
        with trio.fail_after(10):
            await trio.lowlevel.wait_readable(read_fd)
        if not os.read(read_fd, 1):
            await process.wait()
            raise SpawnError(f"the spawner exited at start-up with status {process.returncode}")
        log.info("started spawner pid %d", process.pid)
        return process
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def subprocess_devnull() -> int:
    import subprocess

    return subprocess.DEVNULL
