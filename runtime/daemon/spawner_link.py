"""The daemon's side of the spawner (runtime.spawn.spawner): start it, talk to it.

The daemon connects to `<rundir>/spawner.sock`; if nothing listens there it starts
the spawner (fork+exec of a fresh interpreter: the trio process never runs Python
in a forked child) and waits for its ready byte. A spawner that outlived a crashed
daemon is simply reconnected to, and its `hello` hands over the exits it queued
while no daemon was there.

Exits are delivered per pid: `await link.wait_exit(pid)` returns the wait status.
An exit reported before anyone waits for it is kept, so the order in which the
supervisor learns a pid and the child exits does not matter.
"""

from __future__ import annotations

import array
import json
import logging
import os
import socket
import sys

import trio

log = logging.getLogger("trio-lxc.spawner")

PACKET = 1 << 20


class SpawnError(Exception):
    """The spawner could not fork a container child; the message says why."""


class SpawnerLink:
    """One connection to the spawner, with a reader task that routes its messages."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self._exits: dict[int, int] = {}
        self._exit_events: dict[int, trio.Event] = {}
        self._replies: dict[int, dict[str, object]] = {}
        self._reply_events: dict[int, trio.Event] = {}
        self._next_id = 0
        self.children_at_hello: list[int] = []
        self.hello = trio.Event()
        self.closed = trio.Event()
        #: The spawner process when this daemon started it (None when reconnected).
        self.process: trio.Process | None = None

    # -- connecting -------------------------------------------------------------
    @classmethod
    async def connect_or_start(cls, socket_path: str) -> SpawnerLink:
        sock = await _connect(socket_path)
        process = None
        if sock is None:
            process = await _start_spawner(socket_path)
            sock = await _connect(socket_path)
        if sock is None:
            raise SpawnError(f"the spawner did not start (no listener at {socket_path})")
        link = cls(sock)
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
                self._dispatch(json.loads(data))
        finally:
            self.closed.set()
            for event in self._exit_events.values():
                event.set()
            for event in self._reply_events.values():
                event.set()

    def _dispatch(self, message: dict[str, object]) -> None:
        op = message.get("op")
        if op == "hello":
            self.children_at_hello = [int(p) for p in message.get("children") or []]  # type: ignore[union-attr]
            for item in message.get("exits") or []:  # type: ignore[union-attr]
                self._record_exit(int(item["pid"]), int(item["status"]))
            self.hello.set()
        elif op == "exit":
            self._record_exit(int(message["pid"]), int(message["status"]))  # type: ignore[arg-type]
        elif op in ("spawned", "spawn-failed"):
            request_id = int(message["id"])  # type: ignore[arg-type]
            self._replies[request_id] = message
            event = self._reply_events.get(request_id)
            if event is not None:
                event.set()

    def _record_exit(self, pid: int, status: int) -> None:
        self._exits[pid] = status
        event = self._exit_events.get(pid)
        if event is not None:
            event.set()

    # -- requests ---------------------------------------------------------------
    async def spawn(self, request: dict[str, object], fds: list[int]) -> int:
        """Ask for a container child; returns the pid of the forked child A."""
        self._next_id += 1
        request_id = self._next_id
        event = self._reply_events[request_id] = trio.Event()
        data = json.dumps({"op": "spawn", "id": request_id, "request": request}).encode()
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        await self.sock.sendmsg([data], ancillary)
        await event.wait()
        del self._reply_events[request_id]
        reply = self._replies.pop(request_id, None)
        if reply is None:
            raise SpawnError("the spawner went away during the start")
        if reply.get("op") == "spawn-failed":
            raise SpawnError(str(reply.get("error")))
        return int(reply["pid"])  # type: ignore[arg-type]

    def exit_status(self, pid: int) -> int | None:
        """The wait status of `pid` if the spawner has reported its exit."""
        return self._exits.get(pid)

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
            with trio.move_on_after(5):
                await self.process.wait()


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
