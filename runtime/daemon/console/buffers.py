"""Where a container's console output goes besides a client: a ring buffer and a log file.

Sans-IO apart from the log file's own writes (small, synchronous appends, as LXC's
monitor does them in its main loop).

- `RingBuffer`: the last N bytes of console output (`lxc.console.buffer.size`;
  `auto` is 128 KiB, a value below a page is a page, 0 disables it). trio-lxc keeps
  one of 128 KiB when the key is unset (LXC keeps none), so `lxc-console` users can
  ask what happened before they connected (the daemon's `console-log` request), and
  `lxc.console.buffer.logfile` gets the buffer when the container stops.
- `ConsoleLog`: `lxc.console.logfile`, appended to. With `lxc.console.size` set it
  is bounded: without `lxc.console.rotate` writing stops once the file is full; with
  it the full file is renamed to `FILE.1` (replacing an older one) and a new file is
  started. Both as LXC does it. The file is opened, and rotated, through
  `runtime.storage.hostfiles.Location`: inside the container's rootfs no symlink
  is followed, and only a regular file is written.
"""

from __future__ import annotations

import logging
import os

from runtime.storage.hostfiles import Location

log = logging.getLogger("trio-lxc.console")

AUTO = -1
AUTO_SIZE = 128 * 1024
DEFAULT_BUFFER_SIZE = 128 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def effective_size(value: int | None, default: int) -> int:
    """A configured size in bytes: None -> default, auto -> 128 KiB, at least a page."""
    if value is None:
        return default
    if value == AUTO:
        return AUTO_SIZE
    if value <= 0:
        return 0
    return max(value, PAGE_SIZE)


class RingBuffer:
    """The newest `size` bytes written to it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data = bytearray()

    def write(self, data: bytes) -> None:
        if self.size <= 0:
            return
        self._data += data
        excess = len(self._data) - self.size
        if excess > 0:
            del self._data[:excess]

    def read(self) -> bytes:
        return bytes(self._data)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class ConsoleLog:
    """lxc.console.logfile, bounded by lxc.console.size, rotated with lxc.console.rotate.

    `trees`: the host directories the container can change (its rootfs: the file may
    not be steered out of them; runtime.storage.spec.container_trees).
    """

    def __init__(
        self, path: str, size: int | None = None, rotate: bool = False, trees: tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self.limit = effective_size(size, 0)
        self.rotate = rotate
        self.location = Location(path, trees)
        try:
            self.fd = self.location.open_file()
            self.written = os.fstat(self.fd).st_size
        except BaseException:
            self.location.close()
            raise
        self._failing = False

    def write(self, data: bytes) -> None:
        if self.location.dir_fd < 0:
            return  # closed
        try:
            self._write(data)
            self._failing = False
        except OSError as err:
            # A full disk (or a container that took the file away) must not stop
            # the console; the next write tries again. Said once per spell of errors.
            if not self._failing:
                log.warning("lxc.console.logfile: cannot write %s: %s", self.path, err)
            self._failing = True

    def _write(self, data: bytes) -> None:
        if self.fd < 0:  # a rotation could not open the new file: again now
            self.fd = self.location.open_file()
            self.written = os.fstat(self.fd).st_size
        view = memoryview(data)
        while view:
            if not self.limit:
                self._write_all(view)
                return
            space = self.limit - self.written
            if space <= 0:
                if not self.rotate:
                    return
                self._rotate()
                continue
            chunk = view[:space]
            self._write_all(chunk)
            view = view[len(chunk) :]

    def _write_all(self, view: memoryview) -> None:
        while view:
            count = os.write(self.fd, view)
            self.written += count
            view = view[count:]

    def _rotate(self) -> None:
        """FILE -> FILE.1 and a new FILE, in the directory resolved at the start."""
        self.location.rename(self.location.name + ".1")
        os.close(self.fd)
        self.fd = -1
        self.fd = self.location.open_file(truncate=True)
        self.written = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.location.close()
