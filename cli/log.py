"""LXC-style logging for the command-line tools: `-o FILE -l LEVEL` and `-q`.

Why not the stdlib `logging` package: importing it costs several milliseconds,
and the client commands have a start-up budget close to the bare interpreter's.
This module writes LXC's line format itself:

    lxc-create NAME 20261129164000.123 ERROR store - message

Errors always go to stderr as one line (`lxc-create: NAME: message`) unless `-q`
was given; every message at or above the chosen priority is also appended to the
log file when `-o FILE` was given.
"""

from __future__ import annotations

import sys
import time

from runtime.client import lean_os as os  # not `os`: start-up time

LEVELS: dict[str, int] = {
    "TRACE": 0,
    "DEBUG": 1,
    "INFO": 2,
    "NOTICE": 3,
    "WARN": 4,
    "WARNING": 4,
    "ERROR": 5,
    "CRIT": 6,
    "ALERT": 7,
    "FATAL": 8,
}


def parse_level(text: str) -> int:
    """Map an LXC priority name (any case) or number to its rank; ValueError if unknown."""
    upper = text.strip().upper()
    if upper in LEVELS:
        return LEVELS[upper]
    if upper.isdigit() and int(upper) <= 8:
        return int(upper)
    raise ValueError(f"invalid log priority '{text}' (one of {', '.join(sorted(set(LEVELS)))})")


class CommandLog:
    """Where one command's messages go: stderr for errors, a file for everything chosen."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self.name: str | None = None
        self.quiet = False
        self.level = LEVELS["ERROR"]
        self.file_path: str | None = None

    def configure(
        self, *, name: str | None, quiet: bool, level: str | None, logfile: str | None
    ) -> None:
        """Apply the common options; a bad level raises ValueError for the caller to report."""
        self.name = name
        self.quiet = quiet
        if level is not None:
            self.level = parse_level(level)
        self.file_path = logfile

    def _to_file(self, level_name: str, module: str, message: str) -> None:
        if self.file_path is None or LEVELS[level_name] < self.level:
            return
        stamp = time.strftime("%Y%m%d%H%M%S", time.localtime())
        millis = int((time.time() % 1) * 1000)
        line = f"{self.prog} {self.name or ''} {stamp}.{millis:03d} {level_name} {module} - {message}\n"
        try:
            fd = os.open(self.file_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            sys.stderr.write(f"{self.prog}: cannot open log file {self.file_path}: {err.strerror}\n")
            self.file_path = None
            return
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def log(self, level_name: str, module: str, message: str) -> None:
        """Record a message in the log file (if any) without printing it."""
        self._to_file(level_name, module, message)

    def debug(self, module: str, message: str) -> None:
        self._to_file("DEBUG", module, message)

    def info(self, module: str, message: str) -> None:
        self._to_file("INFO", module, message)

    def warn(self, module: str, message: str) -> None:
        """A warning is printed on stderr (unless -q) and logged."""
        self._to_file("WARN", module, message)
        if not self.quiet:
            self._stderr(message)

    def error(self, module: str, message: str) -> None:
        """An error is printed on stderr as one line (unless -q) and logged."""
        self._to_file("ERROR", module, message)
        if not self.quiet:
            self._stderr(message)

    def _stderr(self, message: str) -> None:
        prefix = f"{self.prog}: {self.name}: " if self.name else f"{self.prog}: "
        sys.stderr.write(prefix + message + "\n")
        sys.stderr.flush()
