"""One container's terminals in the daemon: the console pty, the tty ptys, their clients.

Allocation: host ptys, opened by the daemon before the spawn (LXC 5 takes them from
the container's own devpts instance; a host pty is simpler and the container sees
the same thing, a terminal bind-mounted on /dev/console and /dev/ttyN). The slave
paths go into the spawn request; the child bind-mounts them. The daemon keeps both
ends of every pair open for the container's whole life, so a tty outlives any
client and any getty (no EIO on the master between two gettys), and a client that
comes back finds the same session: no new login.

The console (tty 0) is read by the daemon all the time (`_pump_console`): its
output goes to the ring buffer, the log file, and the console's one *peer* if there
is one. A peer is what is connected to the console: an `lxc-console -t 0` client
(it gets one end of a socketpair, the daemon pumps the other end), the terminal of
an `lxc-start -F` (also a socketpair, handed over with the start reply), or the
device named by `lxc.console.path`. Input from the peer goes to the console. So
logging never stops while someone is connected, and the daemon never reads input
meant for a client: it reads the console's output only.

The ttys (1..lxc.tty.max) are handed out as they are: the client receives the
master fd itself (SCM_RIGHTS) and the daemon does not read it. One client per
terminal at a time (`acquire` raises TerminalBusy); a lease ends when the client's
control connection closes.

Files named by the config (lxc.console.logfile, lxc.console.buffer.logfile, the
device of lxc.console.path) are opened through `runtime.storage.hostfiles`: one
inside the container's rootfs is resolved beneath it without following a symlink,
and must be a regular file (a character device for lxc.console.path).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from runtime.daemon.console.buffers import (
    DEFAULT_BUFFER_SIZE,
    ConsoleLog,
    RingBuffer,
    effective_size,
)
from runtime.kernel import ptys
from runtime.storage import hostfiles, spec

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

log = logging.getLogger("trio-lxc.console")

READ_SIZE = 65536
#: Console output kept for a peer that does not read (a stopped `lxc-console`, a slow
#: device): beyond it the oldest is dropped, so the console, its ring buffer and its
#: log never wait for such a peer (nor does the container writing to its console).
#: The terminal of `lxc-start -F` is held to it instead (see `Peer`).
PEER_BACKLOG = 256 * 1024
def container_trees(config: ContainerConfig) -> tuple[str, ...]:
    """The host directories the container can change (its rootfs, whatever its type):
    console files the daemon opens beneath them follow no symlink (hostfiles)."""
    return spec.container_trees(config.rootfs_path, config.rootfs_mount)


class TerminalBusy(Exception):
    """The terminal asked for is taken, or does not exist; the message says which."""


def _close(fd: int) -> None:
    """Close an fd a trio task may be waiting on (the waiter is woken, not left hanging)."""
    try:
        trio.lowlevel.notify_closing(fd)
    except RuntimeError:  # not inside trio (a failed set-up in a test)
        pass
    os.close(fd)


class Terminal:
    """One pty pair held by the daemon."""

    __slots__ = ("number", "master", "slave", "path", "owner")

    def __init__(self, number: int) -> None:
        self.number = number
        self.master, self.slave = ptys.open_pair()
        self.path = os.ttyname(self.slave)
        self.owner: Lease | None = None

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                _close(fd)
        self.master = self.slave = -1


class Peer:
    """What is connected to the console: a socket end or a device, read and written.

    `outbox` holds the console output the peer could not take yet, `draining` says a
    task is writing it out. Past PEER_BACKLOG bytes, a flow-controlled peer (the
    terminal of `lxc-start -F`: Ctrl-S there pauses the container's output, as on any
    terminal) holds the console back until it has room (`room`); any other peer (an
    `lxc-console` client, an lxc.console.path device) loses its oldest output instead."""

    __slots__ = ("fd", "kind", "gone", "outbox", "draining", "dropped", "room")

    def __init__(self, fd: int, kind: str) -> None:
        self.fd = fd
        self.kind = kind
        self.gone = trio.Event()
        self.outbox = bytearray()
        self.draining = False
        self.dropped = 0
        self.room = trio.Event()
        os.set_blocking(fd, False)

    @property
    def flow_controlled(self) -> bool:
        return self.kind == "foreground"

    def close(self) -> None:
        if self.fd >= 0:
            _close(self.fd)
            self.fd = -1
        self.outbox.clear()
        self.room.set()
        self.gone.set()


class Lease:
    """A client's hold on one terminal; `release` gives it back."""

    def __init__(self, terminals: ContainerTerminals, number: int, peer: Peer | None) -> None:
        self.terminals = terminals
        self.number = number
        self.peer = peer

    def release(self) -> None:
        self.terminals.release(self)


#: The foreground console's socket (`lxc-start -F` on a terminal), the console's size and
#: the output the command has not read yet, kept from one run of a container to the next
#: across a reboot (`close(keep_foreground)`).
Carried = tuple[int, tuple[int, int] | None, bytes]


class ContainerTerminals:
    """The console and ttys of one running container (see the module docstring)."""

    def __init__(
        self,
        name: str,
        config: ContainerConfig,
        *,
        foreground: tuple[int, int] | None | bool = False,
        carried: Carried | None = None,
    ) -> None:
        self.name = name
        self.console: Terminal | None = None
        self.ttys: list[Terminal] = []
        self.peer: Peer | None = None
        self.ring = RingBuffer(effective_size(config.console_buffer_size, DEFAULT_BUFFER_SIZE))
        self.log: ConsoleLog | None = None
        self.buffer_logfile: str | None = config.console_buffer_logfile or None
        self.trees = container_trees(config)
        self.closed = trio.Event()
        self.foreground_end: int | None = None
        #: One per running pump task (`_guarded`): `close` cancels them.
        self._scopes: list[trio.CancelScope] = []
        self._nursery: trio.Nursery | None = None
        try:
            self._allocate(config, foreground, carried)
        except BaseException:
            adopted = carried is not None and self.peer is not None and self.peer.fd == carried[0]
            self.close()  # an adopted carried socket is closed with its peer
            if carried is not None and not adopted:
                _close(carried[0])
            raise
        if carried is not None and (self.peer is None or self.peer.fd != carried[0]):
            _close(carried[0])  # no console this time (lxc.console.path = none)

    # -- set-up ------------------------------------------------------------------------
    def _allocate(
        self, config: ContainerConfig, foreground: tuple[int, int] | None | bool, carried: Carried | None
    ) -> None:
        path = config.console_path
        if path != "none":
            self.console = Terminal(0)
            os.set_blocking(self.console.master, False)
            logfile = config.console_logfile
            if logfile:
                try:
                    self.log = ConsoleLog(
                        logfile, config.console_size, bool(config.console_rotate), self.trees,
                    )  # fmt: skip
                except OSError as err:
                    raise OSError(
                        err.errno, f"lxc.console.logfile: cannot open {logfile}: {err.strerror}"
                    ) from None
            if carried is not None:  # a reboot: the command's terminal is still the console
                fd, size, pending = carried
                self.peer = Peer(fd, "foreground")
                self.peer.outbox += pending  # drained first (`run`), in order
                if size is not None:
                    ptys.set_winsize(self.console.master, *size)
            elif foreground is not False:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                self.peer = Peer(ours.detach(), "foreground")
                self.foreground_end = theirs.detach()
                if isinstance(foreground, tuple):
                    ptys.set_winsize(self.console.master, *foreground)
            elif path:
                self.peer = self._open_device_peer(path, self.trees)
        if config.rootfs_path:
            for number in range(1, (config.tty_max or 0) + 1):
                self.ttys.append(Terminal(number))

    @staticmethod
    def _open_device_peer(path: str, trees: tuple[str, ...]) -> Peer:
        """lxc.console.path = DEVICE: the console's output goes there, its input comes from it."""
        try:
            location = hostfiles.Location(path, trees)
            try:
                fd = location.open_device()
            finally:
                location.close()
        except OSError as err:
            raise OSError(err.errno, f"lxc.console.path: cannot open {path}: {err.strerror}") from None
        try:
            _check_pollable(fd)
        except OSError as err:
            os.close(fd)
            raise OSError(
                err.errno,
                f"lxc.console.path: {path} cannot be the console: the daemon cannot wait on it "
                f"({err.strerror}); give a terminal, such as a pty's slave",
            ) from None
        if os.isatty(fd):
            try:
                ptys.make_raw(fd)
            except OSError:
                pass
        return Peer(fd, "device")

    @property
    def console_path(self) -> str | None:
        return self.console.path if self.console is not None else None

    @property
    def tty_paths(self) -> list[str]:
        return [tty.path for tty in self.ttys]

    def init_stdio(self) -> tuple[int, int, int] | None:
        """Three fresh fds of the console for the init's stdin, stdout and stderr."""
        if self.console is None:
            return None
        stdin, stdout, stderr = (os.dup(self.console.slave) for _ in range(3))
        return stdin, stdout, stderr

    def take_foreground_end(self) -> int | None:
        fd, self.foreground_end = self.foreground_end, None
        return fd

    # -- running -------------------------------------------------------------------------
    async def run(
        self, nursery: trio.Nursery, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve the console until `close`: this task pumps the console's output, and
        each peer's input gets a task of its own in `nursery` (the console manager's)
        while the peer lasts, as does the writing of its outbox while the peer is
        behind (`_drain`). One task per running container, not a nursery and two:
        memory kept per container (README, "Speed": memory per container). Every
        wait below first checks `closed` (set before any fd is closed, and nothing
        yields between the check and the wait), so no task ever waits on an fd
        number that was closed and reused; `close` also cancels every such task."""
        self._nursery = nursery
        if self.peer is not None:
            self._start_peer(self.peer)
            if self.peer.outbox:  # what the command had not read before a reboot
                self.peer.draining = True
                nursery.start_soon(self._guarded, self._drain, self.peer)
        task_status.started()
        if self.console is not None:
            await self._guarded(self._pump_console)

    def _start_peer(self, peer: Peer) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._guarded, self._pump_peer, peer)

    async def _guarded(self, pump: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run a pump until `close` cancels it; a console must never take the daemon down."""
        scope = trio.CancelScope()
        self._scopes.append(scope)
        try:
            with scope:
                await pump(*args)
        except Exception:
            log.exception("%s: console", self.name)
            self.close()
        finally:
            self._scopes.remove(scope)

    async def _pump_console(self) -> None:
        """Console output -> ring buffer, log file, peer."""
        assert self.console is not None
        while not self.closed.is_set():
            try:
                await trio.lowlevel.wait_readable(self.console.master)
            except trio.ClosedResourceError:
                return
            data = self._read_console()
            if data is None:
                await trio.sleep(0.05)  # EIO: nobody holds the slave (cannot last: we do)
                continue
            if not data:
                continue
            peer = self.peer
            if peer is not None:
                self._send(peer, data)
                while (
                    peer.flow_controlled and len(peer.outbox) >= PEER_BACKLOG
                    and peer.fd >= 0 and not self.closed.is_set()
                ):  # fmt: skip
                    peer.room = trio.Event()
                    await peer.room.wait()

    def _read_console(self) -> bytes | None:
        """One read of the console master, recorded; b'' when nothing was there."""
        assert self.console is not None
        try:
            data = os.read(self.console.master, READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError:
            return None
        self.ring.write(data)
        if self.log is not None:
            self.log.write(data)
        return data

    def _send(self, peer: Peer, data: bytes) -> None:
        """Console output to the peer, never waiting for it: what it cannot take now
        goes to its outbox, which a task of its own drains (`_drain`)."""
        if peer.fd < 0:
            return
        if not peer.outbox:  # nothing queued before it: straight to the peer
            try:
                data = data[os.write(peer.fd, data) :]
            except BlockingIOError:
                pass
            except OSError:
                self._detach(peer)
                return
            if not data:
                return
        peer.outbox += data
        excess = len(peer.outbox) - PEER_BACKLOG
        if excess > 0 and not peer.flow_controlled:
            del peer.outbox[:excess]
            if not peer.dropped:
                log.info("%s: the console's %s does not read: its oldest output is dropped", self.name, peer.kind)
            peer.dropped += excess
        if not peer.draining and self._nursery is not None:
            peer.draining = True
            self._nursery.start_soon(self._guarded, self._drain, peer)

    async def _drain(self, peer: Peer) -> None:
        """Write the peer's outbox out as the peer takes it; ends when it is empty."""
        try:
            while peer.outbox and peer.fd >= 0 and not self.closed.is_set():
                try:
                    await trio.lowlevel.wait_writable(peer.fd)
                except trio.ClosedResourceError:
                    return
                try:
                    count = os.write(peer.fd, peer.outbox)
                except BlockingIOError:
                    continue
                except OSError:
                    self._detach(peer)
                    return
                del peer.outbox[:count]
                if len(peer.outbox) < PEER_BACKLOG:
                    peer.room.set()
        finally:
            peer.draining = False
            peer.room.set()

    @staticmethod
    def _flush_outbox(peer: Peer) -> None:
        """At the end: what the peer can take now of what waited for it (never blocks)."""
        if peer.fd >= 0 and peer.outbox:
            try:
                os.write(peer.fd, peer.outbox)
            except OSError:
                pass

    async def _pump_peer(self, peer: Peer) -> None:
        """Peer input -> console; EOF or an error ends the peer."""
        assert self.console is not None
        while peer.fd >= 0 and not self.closed.is_set():
            try:
                await trio.lowlevel.wait_readable(peer.fd)
            except trio.ClosedResourceError:
                return
            try:
                data = os.read(peer.fd, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self._detach(peer)
                return
            await self._write_console(data)

    async def _write_console(self, data: bytes) -> None:
        assert self.console is not None
        view = memoryview(data)
        while view and self.console.master >= 0 and not self.closed.is_set():
            try:
                count = os.write(self.console.master, view)
            except BlockingIOError:
                try:
                    await trio.lowlevel.wait_writable(self.console.master)
                except trio.ClosedResourceError:
                    return
                continue
            except OSError as err:
                if err.errno == errno.EINTR:
                    continue
                return
            view = view[count:]

    def _detach(self, peer: Peer) -> None:
        if self.peer is peer:
            self.peer = None
        if peer.dropped and peer.fd >= 0:
            log.info("%s: the console's %s lost %d bytes of output it did not read", self.name, peer.kind, peer.dropped)
        peer.close()

    # -- clients -------------------------------------------------------------------------
    def acquire(self, number: int) -> tuple[Lease, int]:
        """Take terminal `number` (-1: the first free tty): the lease and the fd to hand out.

        For a tty the fd is its master (the daemon keeps it; the receiver gets a
        copy). For the console it is the client's end of a new socketpair, which
        the caller must close once sent.
        """
        if self.closed.is_set():
            raise TerminalBusy(f"{self.name} is not running")
        if number == -1:
            for tty in self.ttys:
                if tty.owner is None:
                    number = tty.number
                    break
            else:
                raise TerminalBusy(
                    f"Denied access to tty: all {len(self.ttys)} ttys of {self.name} are in use"
                    if self.ttys else f"Denied access to tty: {self.name} has no ttys (lxc.tty.max)"
                )  # fmt: skip
        if number == 0:
            if self.console is None:
                raise TerminalBusy(f"Denied access to tty 0: {self.name} has no console (lxc.console.path = none)")
            if self.peer is not None:
                raise TerminalBusy(f"Denied access to tty 0: the console of {self.name} is in use ({self.peer.kind})")
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            peer = Peer(ours.detach(), "client")
            self.peer = peer
            self._start_peer(peer)
            return Lease(self, 0, peer), theirs.detach()
        if not 1 <= number <= len(self.ttys):
            raise TerminalBusy(
                f"Denied access to tty {number}: {self.name} has ttys 1 to {len(self.ttys)} and 0 (the console)"
                if self.ttys else f"Denied access to tty {number}: {self.name} has no ttys (lxc.tty.max)"
            )  # fmt: skip
        tty = self.ttys[number - 1]
        if tty.owner is not None:
            raise TerminalBusy(f"Denied access to tty {number}: it is in use by another client")
        lease = Lease(self, number, None)
        tty.owner = lease
        return lease, tty.master

    def release(self, lease: Lease) -> None:
        if lease.peer is not None:
            self._detach(lease.peer)
            return
        if 1 <= lease.number <= len(self.ttys):
            tty = self.ttys[lease.number - 1]
            if tty.owner is lease:
                tty.owner = None

    def resize(self, number: int, rows: int, cols: int) -> None:
        """Set a terminal's window size; TerminalBusy naming what exists when there is
        no such terminal (a size of 0 rows or columns is no size: ignored)."""
        terminal = self.console if number == 0 else (
            self.ttys[number - 1] if 1 <= number <= len(self.ttys) else None
        )  # fmt: skip
        if terminal is None:
            ttys = f"ttys 1 to {len(self.ttys)}" if self.ttys else "no ttys (lxc.tty.max)"
            console = "the console (0)" if self.console is not None else "no console (lxc.console.path = none)"
            raise TerminalBusy(f"No tty {number} to resize: {self.name} has {ttys} and {console}")
        if terminal.master >= 0 and rows > 0 and cols > 0:
            ptys.set_winsize(terminal.master, rows, cols)

    # -- the end -------------------------------------------------------------------------
    def close(self, *, keep_foreground: bool = False) -> Carried | None:
        """Flush the console, write the buffer log, close every fd; clients see the end.

        `keep_foreground` (a reboot): the foreground console's socket is not closed but
        returned, with the console's size, for the next run's terminals: `lxc-start -F`
        stays on its terminal through the reboot, as LXC's."""
        if self.closed.is_set():
            return None
        self.closed.set()
        for scope in self._scopes:
            scope.cancel()
        tail = bytearray()
        if self.console is not None and self.console.master >= 0:
            for _ in range(64):  # what the last processes wrote before the end
                data = self._read_console()
                if not data:
                    break
                tail += data
        if self.buffer_logfile and len(self.ring):
            try:
                hostfiles.write_file(self.buffer_logfile, self.trees, self.ring.read())
            except OSError as err:
                log.warning("%s: lxc.console.buffer.logfile: %s", self.name, err)
        carried: Carried | None = None
        if self.peer is not None:
            peer = self.peer
            if keep_foreground and peer.kind == "foreground" and peer.fd >= 0:
                master = self.console.master if self.console is not None else -1
                size = ptys.get_winsize(master) if master >= 0 else None
                carried = (peer.fd, size, bytes(peer.outbox + tail))  # nothing lost, in order
                peer.fd = -1  # handed over, not closed
            else:
                self._flush_outbox(peer)
            self._detach(peer)
        if self.foreground_end is not None:
            os.close(self.foreground_end)
            self.foreground_end = None
        for terminal in ([self.console] if self.console else []) + self.ttys:
            terminal.close()
        if self.log is not None:
            self.log.close()
        return carried


def _check_pollable(fd: int) -> None:
    """OSError (EPERM) when epoll cannot watch `fd`: a character device without poll
    support (/dev/null, /dev/zero) would fail the console's pump once the container runs."""
    probe = select.epoll()
    try:
        probe.register(fd, select.EPOLLIN)
    finally:
        probe.close()
