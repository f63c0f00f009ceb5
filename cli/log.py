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
        #: The -o file, opened once by `configure` (see `_open_file`).
        self.fd: int | None = None

    def configure(
        self,
        *,
        name: str | None,
        quiet: bool,
        level: str | None,
        logfile: str | None,
        trees: tuple[str, ...] = (),
    ) -> None:
        """Apply the common options; a bad level raises ValueError for the caller to
        report. `trees`: where -o follows no symlink (cli.common.log_trees: the
        lxcpath, the container's rootfs)."""
        self.name = name
        self.quiet = quiet
        if level is not None:
            self.level = parse_level(level)
        self.file_path = logfile
        if logfile is not None:
            self._open_file(logfile, trees)

    def _open_file(self, path: str, trees: tuple[str, ...]) -> None:
        """Open the -o file once, before the command does anything (as LXC, which
        creates it at start-up), and keep writing to that file.

        Why: the path may lie in a container's directory (its rootfs), whose files the
        container replaces at will; opened by path at each line, a line written after
        the container ran (`lxc-execute -l TRACE`) followed the symlink it had planted
        there onto any host file. Beneath the lxcpath and the container's rootfs no
        symlink is followed and only a regular file is written
        (runtime.storage.hostfiles.open_for_append);
        elsewhere the path is opened as given (`-o /dev/stderr` works). A file that
        cannot be opened is said once on stderr and the command goes on without it."""
        from runtime.storage.hostfiles import open_for_append

        try:
            self.fd = open_for_append(os.path.abspath(path), trees)
        except OSError as err:
            sys.stderr.write(f"{self.prog}: cannot open log file {path}: {err.strerror}\n")
            self.file_path = None

    def write_file(self, text: str) -> None:
        """Append `text` to the -o file, if one is open."""
        if self.fd is None:
            return
        try:
            os.write(self.fd, text.encode())
        except OSError as err:
            sys.stderr.write(f"{self.prog}: cannot write log file {self.file_path}: {err.strerror}\n")
            os.close(self.fd)
            self.fd = None
            self.file_path = None

    def _to_file(self, level_name: str, module: str, message: str) -> None:
        if self.fd is None or LEVELS[level_name] < self.level:
            return
        stamp = time.strftime("%Y%m%d%H%M%S", time.localtime())
        millis = int((time.time() % 1) * 1000)
        self.write_file(f"{self.prog} {self.name or ''} {stamp}.{millis:03d} {level_name} {module} - {message}\n")

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
