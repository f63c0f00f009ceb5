"""The daemon's rotated log file, at the cost of one write per line.

The standard `RotatingFileHandler` asks the file system before every record whether
it should rotate: two stats of the path (bpo-45401: never rotate a non-regular
file), a second formatting of the record, a seek and a tell. The daemon logs two
lines per container start and two per stop, from its one event-loop thread, so that
was ~20 µs of serial CPU per line on the project's machine (more with cold caches
amid 100 starts). Only the daemon writes its log, so the size is taken once when
the file is opened (and whether it is a regular file at all), then counted.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from io import TextIOWrapper


class RotatingLog(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler that counts its file's size instead of asking for it."""

    _size = 0
    _rotates = True

    def _open(self) -> TextIOWrapper:
        stream = super()._open()
        info = os.fstat(stream.fileno())
        self._size = info.st_size
        self._rotates = stat.S_ISREG(info.st_mode)  # /dev/stderr, a fifo: never renamed
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            size = len(line.encode(self.encoding or "utf-8", "replace"))
            if self.stream is None:  # delay=True, or closed after a failed rotation
                self.stream = self._open()
            if self.maxBytes > 0 and self._rotates and 0 < self._size and self._size + size >= self.maxBytes:
                self.doRollover()  # reopens: _open counts from the new file's size
            stream = self.stream
            if stream is None:  # delay=True: doRollover left it closed
                stream = self.stream = self._open()
            stream.write(line)
            self.flush()
            self._size += size
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's own policy: report, never raise
            self.handleError(record)
