"""The user's terminal on the client side: raw mode and a two-way proxy.

Shared by `lxc-console` (a tty master or the console's socket from the daemon, with
LXC's escape sequence), `lxc-start -F` on a terminal (the console's socket, no
escape) and `lxc-attach` on a terminal (a pty master from the container's devpts).
Standard library only, select-based, no threads: the clients must start fast.

The escape, as LXC does it: the prefix (Ctrl-a unless -e) is swallowed; `q` after
it detaches; the prefix twice sends one prefix; any other byte after the prefix is
sent alone.

Window size: SIGWINCH wakes the loop (a wakeup pipe), and `on_resize(rows, cols)`
is called with the terminal's new size; it is also called once at the start.
"""

from __future__ import annotations

# `_signal`, not `signal`: the latter imports enum, which costs start-up milliseconds.
import _signal as signal
import errno
import os
import select
import termios

from runtime.kernel import ptys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: collections.abc costs start-up time
    from collections.abc import Callable
    from typing import Any

READ_SIZE = 65536

#: Why `Proxy.run` returned.
DETACHED = "detached"
REMOTE_CLOSED = "remote-closed"
STOPPED = "stopped"


def escape_code(text: str | None) -> int:
    """-e PREFIX: `^b`, `b` (both Ctrl-b) or any single character; Ctrl-a by default."""
    if not text:
        return 1
    if text.startswith("^") and len(text) == 2:
        char = text[1].lower()
    elif len(text) == 1:
        char = text.lower()
    else:
        raise ValueError(f"invalid escape prefix '{text}' (use a letter, or ^letter)")
    if "a" <= char <= "z":
        return ord(char) - ord("a") + 1
    return ord(char) & 0x1F if char.isprintable() else ord(char)


def escape_letter(code: int) -> str:
    """The letter LXC's banner shows for an escape code (`a` for Ctrl-a)."""
    return chr(ord("a") + code - 1) if 1 <= code <= 26 else chr(code)


class RawTerminal:
    """Put a terminal in raw mode for the duration of a `with` block, then restore it.

    flush_input: discard what was typed before (see `__enter__`), as LXC does for
    lxc-attach. Off by default: lxc-console prints its banner before going raw,
    and what the user types after the banner must reach the console.
    """

    def __init__(self, fd: int | None, *, flush_input: bool = False) -> None:
        self.fd = fd
        self.flush_input = flush_input
        self._saved: list[Any] | None = None  # termios attributes, as tcgetattr gives them

    def __enter__(self) -> RawTerminal:
        if self.fd is not None and os.isatty(self.fd):
            try:
                self._saved = termios.tcgetattr(self.fd)
                ptys.make_raw(self.fd)
                # What was typed before, still in the line discipline's canonical
                # buffer, turns into raw bytes when ICANON goes, and an EOF
                # character pending there (script(1) sends one when its own stdin
                # ends) into a NUL byte, which the far end would echo as `^@`.
                # Discard it, as LXC does (TCSAFLUSH); flushing after the switch
                # leaves no window in which one more EOF could turn into a NUL.
                if self.flush_input:
                    termios.tcflush(self.fd, termios.TCIFLUSH)
            except termios.error:
                self._saved = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None and self.fd is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSAFLUSH, self._saved)
            except termios.error:
                pass


def write_all(fd: int, data: bytes) -> bool:
    """Write everything (waiting when the fd is non-blocking and full); False if it broke."""
    view = memoryview(data)
    while view:
        try:
            count = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except InterruptedError:
            continue
        except OSError:
            return False
        view = view[count:]
    return True


def _read(fd: int) -> bytes | None:
    """One read: data, b'' at the end (EOF, EIO of a pty master), None if nothing yet."""
    try:
        return os.read(fd, READ_SIZE)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as err:
        if err.errno in (errno.EIO, errno.ECONNRESET, errno.EBADF):
            return b""
        raise


class Proxy:
    """Bytes between the user's terminal and a remote end (see the module docstring).

    term_in: read from the user (None: nothing to read); term_out: written to the user.
    remote: read and written (a pty master or a socket).
    escape: the escape prefix code, None for no escape handling.
    watch: extra fds; when one is readable, `on_watch(fd)` is called and the proxy
        stops if it returns True.
    on_resize: called with (rows, cols) at the start and on every SIGWINCH.
    on_signal: called with each other signal number that woke the loop (SIGCHLD for
        lxc-attach); the proxy stops if it returns True.
    """

    def __init__(
        self,
        *,
        term_in: int | None,
        term_out: int,
        remote: int,
        escape: int | None = None,
        watch: tuple[int, ...] = (),
        on_watch: Callable[[int], bool] | None = None,
        on_resize: Callable[[int, int], None] | None = None,
        signals: tuple[int, ...] = (),
        on_signal: Callable[[int], bool] | None = None,
        copy_to: int | None = None,
    ) -> None:
        self.term_in = term_in
        self.term_out = term_out
        self.remote = remote
        self.escape = escape
        self.watch = watch
        self.on_watch = on_watch
        self.on_resize = on_resize
        self.signals = signals
        self.on_signal = on_signal
        self.copy_to = copy_to
        self.saw_escape = False
        self.remote_open = True

    def filter_input(self, data: bytes) -> tuple[bytes, bool]:
        """Apply the escape sequence: (bytes to send, detach?)."""
        if self.escape is None:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.escape and not self.saw_escape:
                self.saw_escape = True
                continue
            if self.saw_escape and byte == ord("q"):
                return bytes(out), True
            self.saw_escape = False
            out.append(byte)
        return bytes(out), False

    def _resize(self) -> None:
        if self.on_resize is None:
            return
        fd = self.term_in if self.term_in is not None else self.term_out
        size = ptys.get_winsize(fd)
        if size is not None and size[0] > 0 and size[1] > 0:
            self.on_resize(*size)

    def from_remote(self, data: bytes) -> None:
        write_all(self.term_out, data)
        if self.copy_to is not None:
            write_all(self.copy_to, data)

    def drain_remote(self, idle: float = 0.2, limit: float = 2.0) -> None:
        """Copy what the remote still has, until it ends or stays quiet for `idle` s."""
        import time

        deadline = time.monotonic() + limit
        while self.remote_open and time.monotonic() < deadline:
            ready, _, _ = select.select([self.remote], [], [], idle)
            if not ready:
                return
            data = _read(self.remote)
            if data is None:
                continue
            if not data:
                self.remote_open = False
                return
            self.from_remote(data)

    def run(self) -> str:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        wanted = (signal.SIGWINCH, *self.signals)
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in wanted}
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        try:
            self._resize()
            # A child that exited before the handlers were in place would never
            # wake the loop: ask once now.
            if self.on_signal is not None and signal.SIGCHLD in self.signals and self.on_signal(signal.SIGCHLD):
                return STOPPED
            return self._loop(wake_r)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)

    def _loop(self, wake_r: int) -> str:
        term_in = self.term_in
        while True:
            readable = [wake_r, *self.watch]
            if self.remote_open:
                readable.append(self.remote)
            if term_in is not None and self.remote_open:
                readable.append(term_in)
            try:
                ready, _, _ = select.select(readable, [], [])
            except InterruptedError:
                continue
            # The remote first: output that is there is shown before anything ends.
            if self.remote_open and self.remote in ready:
                data = _read(self.remote)
                if data == b"":
                    self.remote_open = False
                    if not self.watch and not self.signals:
                        return REMOTE_CLOSED
                elif data:
                    self.from_remote(data)
            if wake_r in ready:
                stop = False
                try:
                    numbers = os.read(wake_r, 256)
                except BlockingIOError:
                    numbers = b""
                for number in numbers:
                    if number == signal.SIGWINCH:
                        self._resize()
                    elif self.on_signal is not None and self.on_signal(number):
                        stop = True
                if stop:
                    return STOPPED
            for fd in self.watch:
                if fd in ready and self.on_watch is not None and self.on_watch(fd):
                    return STOPPED
            if term_in is not None and term_in in ready:
                data = _read(term_in)
                if data == b"":
                    term_in = None  # the user's input ended (not a terminal): keep output going
                    continue
                if data:
                    data, detach = self.filter_input(data)
                    if data and not write_all(self.remote, data):
                        self.remote_open = False
                    if detach:
                        return DETACHED
