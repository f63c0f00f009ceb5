"""lxc.log.file, lxc.log.level, lxc.log.syslog: a container's own log.

LXC writes what it does for a container to `lxc.log.file`, at `lxc.log.level`
(default ERROR), and to syslog with `lxc.log.syslog = FACILITY`. Here the daemon
does the work, so while a container is supervised the daemon adds a handler per
destination that takes that container's records (the supervisor's and the
daemon's lines about it) at that level; they are removed when it stops. Records
below the daemon's own level (`TRIO_LXC_DAEMON_LOG_LEVEL`) are not made at all, so
`lxc.log.level = DEBUG` needs the daemon at DEBUG too.

The file is a host path from the config, opened by the daemon as root, as LXC
does; it is opened without following a symlink at its last component, must be an
absolute path (the daemon's working directory is nobody's business) and a regular
file, and is created 0600. A file that cannot be opened fails the start naming
the key.
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import os
import socket
import stat
from typing import TYPE_CHECKING, TextIO

from runtime.config import values as v

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

_AT_FDCWD = -100

#: LXC's levels (names and numbers 0..8) in Python's terms.
_LEVELS = {
    "trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
    "notice": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR,
    "crit": logging.CRITICAL, "alert": logging.CRITICAL, "fatal": logging.CRITICAL,
}  # fmt: skip
_DEFAULT_LEVEL = logging.ERROR
#: Where the daemon's loggers live: a handler here sees all of them.
_LOGGER = "trio-lxc"
#: The system logger's socket, as openlog(3) uses it.
_SYSLOG = "/dev/log"


class ContainerLogError(Exception):
    """A log destination could not be opened; the message names the key."""


class _ForContainer(logging.Filter):
    """Pass the records about one container: those whose first argument, or
    `container` attribute, is its name (`log.info("%s: RUNNING", name)`)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.container = name

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "container", None) == self.container:
            return True
        args = record.args
        return isinstance(args, tuple) and bool(args) and args[0] == self.container


def level_of(config: ContainerConfig) -> int:
    """lxc.log.level as a logging level (ERROR when unset, as LXC)."""
    text = config.log_level
    if text is None:
        return _DEFAULT_LEVEL
    if text.isdigit():
        text = v.LOG_LEVELS[min(int(text), len(v.LOG_LEVELS) - 1)]
    return _LEVELS[text.lower()]


def open_handlers(name: str, config: ContainerConfig) -> list[logging.Handler]:
    """Open lxc.log.file / lxc.log.syslog for container `name` and attach them."""
    handlers: list[logging.Handler] = []
    try:
        if config.log_file:
            handlers.append(logging.StreamHandler(_open_log_file(config.log_file)))
        if config.log_syslog:
            handlers.append(_syslog_handler(config.log_syslog))
    except ContainerLogError:
        close_handlers(handlers)
        raise
    level = level_of(config)
    formatter = logging.Formatter(f"%(asctime)s trio-lxc {name} %(levelname)s %(message)s")
    for handler in handlers:
        handler.setLevel(level)
        handler.setFormatter(formatter)
        handler.addFilter(_ForContainer(name))
        logging.getLogger(_LOGGER).addHandler(handler)
    return handlers


def close_handlers(handlers: list[logging.Handler]) -> None:
    """Detach and close what open_handlers gave."""
    for handler in handlers:
        logging.getLogger(_LOGGER).removeHandler(handler)
        handler.close()
    handlers.clear()


def _open_no_symlinks(path: str, flags: int) -> int:
    """The daemon opens the file as root: a symlink in any component (say one the
    container made in its rootfs, which the path may cross) is refused, not followed
    (openat2 RESOLVE_NO_SYMLINKS; O_NOFOLLOW on the last component where it is missing)."""
    from runtime.kernel import linux

    try:
        return linux.openat2(
            _AT_FDCWD, path, flags, 0o600, linux.RESOLVE_NO_SYMLINKS | linux.RESOLVE_NO_MAGICLINKS
        )
    except OSError as err:
        if err.errno != errno.ENOSYS:
            raise
    return os.open(path, flags, 0o600)


def _open_log_file(path: str) -> TextIO:
    if not os.path.isabs(path):
        raise ContainerLogError(f"lxc.log.file: '{path}' is not an absolute path")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY
    try:
        fd = _open_no_symlinks(path, flags | os.O_NONBLOCK)
    except OSError as err:
        raise ContainerLogError(f"lxc.log.file: cannot open '{path}': {os.strerror(err.errno or 0)}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ContainerLogError(f"lxc.log.file: '{path}' is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8", errors="replace", buffering=1)


def _syslog_handler(facility: str) -> logging.Handler:
    code = logging.handlers.SysLogHandler.facility_names.get(facility)
    if code is None:
        raise ContainerLogError(f"lxc.log.syslog: unknown facility '{facility}'")
    try:
        handler = logging.handlers.SysLogHandler(address=_SYSLOG, facility=code)
    except OSError as err:
        raise ContainerLogError(f"lxc.log.syslog: cannot reach syslog at {_SYSLOG}: {err.strerror}") from None
    sock = getattr(handler, "socket", None)  # set by the constructor (not in the stubs)
    if isinstance(sock, socket.socket) and sock.fileno() < 0:  # 3.11 keeps a failure quiet
        handler.close()
        reason = "No such file or directory" if not os.path.exists(_SYSLOG) else "Connection refused"
        raise ContainerLogError(f"lxc.log.syslog: cannot reach syslog at {_SYSLOG}: {reason}")
    return handler
