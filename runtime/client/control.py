"""The control protocol's framing between the commands and the runtime daemon (sans-IO).

JSON lines over a Unix stream socket, each object carrying `"v": 1`. A request
is one line, `{"op": "start", ...}`; file descriptors that go with it (the
caller's stdin/stdout/stderr for lxc-execute and lxc-start -F) travel as
SCM_RIGHTS on the same sendmsg as the line's first byte (`scm_rights`). The
daemon answers with zero or more progress lines (`{"event": "started", "pid": N}`)
and one final line `{"ok": true, ...}` or `{"ok": false, "error": "...",
"exit_code": N}`. The messages themselves, typed, and the table of ops are in
runtime/client/control_protocol.py; this module only cuts lines and collects fds.

Standard library only: the clients use it.
"""

from __future__ import annotations

import _socket  # not `socket`, which imports `enum` and `selectors`: start-up time
import sys

from bus.jsonlimit import loads as _loads_bounded
from bus.wire_json import dumps

VERSION = 1
#: The longest request line (a volatile container's config text travels in one).
MAX_LINE = 1 << 20
#: File descriptors one request may carry (the caller's stdio is three).
MAX_FDS = 8


class ProtocolError(Exception):
    """The peer sent something that is not a protocol message."""


def encode(message: dict[str, object]) -> bytes:
    """One message as a JSON line."""
    return dumps({"v": VERSION, **message}).encode() + b"\n"


class LineReader:
    """Splits received bytes into messages, keeping the fds that came with each.

    The peer may be hostile: a line longer than `max_line`, nested deeper than
    bus.jsonlimit allows, not JSON, or with more than `max_fds` fds is a
    ProtocolError (with a one-line reason); fds received so far stay with the
    reader for the caller to close (`leftover_fds`).
    """

    def __init__(self, max_line: int = MAX_LINE, max_fds: int = MAX_FDS) -> None:
        self.max_line = max_line
        self.max_fds = max_fds
        self._buffer = bytearray()
        self._pending_fds: list[int] = []

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held back."""
        return len(self._buffer)

    def feed(self, data: bytes, fds: list[int] | None = None) -> list[tuple[dict[str, object], list[int]]]:
        """Add received bytes (and fds); return every complete message with its fds."""
        if fds:
            self._pending_fds.extend(fds)
            if len(self._pending_fds) > self.max_fds:
                raise ProtocolError(f"more than {self.max_fds} file descriptors with one message")
        self._buffer.extend(data)
        messages: list[tuple[dict[str, object], list[int]]] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.max_line:
                    raise ProtocolError(f"a line longer than {self.max_line} bytes")
                return messages
            if end > self.max_line:
                raise ProtocolError(f"a line longer than {self.max_line} bytes")
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if not line.strip():
                continue  # an empty line is no message (its fds wait for the next)
            try:
                message = _loads_bounded(line)
            except ValueError as err:  # not UTF-8, not JSON, or nested too deeply
                raise ProtocolError(f"not JSON: {err}") from None
            if not isinstance(message, dict):
                raise ProtocolError("a message must be a JSON object")
            fds_for_line, self._pending_fds = self._pending_fds, []
            messages.append((message, fds_for_line))

    def leftover_fds(self) -> list[int]:
        """Fds received but not claimed by a message (the caller closes them)."""
        fds, self._pending_fds = self._pending_fds, []
        return fds


def scm_rights(fds: tuple[int, ...] | list[int]) -> list[tuple[int, int, bytes]]:
    """The ancillary data that sends `fds` (sendmsg's third argument; empty for none).

    Every sender of the control protocol, blocking or async, goes through this and
    sends the line's first byte with it, so the fds arrive with their line."""
    if not fds:
        return []
    data = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
    return [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, data)]


def fds_from_ancillary(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    """The file descriptors an SCM_RIGHTS message carried (recvmsg's ancdata)."""
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            # Native C ints, read without `array` (which imports `collections`).
            fds.extend(
                int.from_bytes(data[i : i + 4], sys.byteorder, signed=True) for i in range(0, usable, 4)
            )
    return fds
