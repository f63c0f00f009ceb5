"""Error types shared by the runtime and the commands.

Every error a user can cause carries the message to print (one line, saying what
to do next where that is not obvious) and the exit code LXC uses for that case.
"""

from __future__ import annotations

#: How long a message from a less trusted source (a hook, the container child) may be.
SHOWN_LIMIT = 1000


def printable_line(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text` as one printable line of at most `limit` characters (then "...").

    For text the container may have written (a hook's output, the child's error
    message after its start hook ran): an escape sequence (OSC 52, a title change)
    must not reach an administrator's terminal through lxc-start, lxc-top or a log.
    Line breaks become spaces, anything else not printable "?".
    """
    shown = "".join(
        ch if ch.isprintable() else " " if ch in "\r\n\t" else "?" for ch in text
    ).strip()
    return shown if len(shown) <= limit else shown[:limit] + "..."


class LxcError(Exception):
    """A failure to report to the user: one line of text and an exit code."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(LxcError):
    """A bad line in a container configuration file: names the file, line and key."""

    def __init__(self, file: str, line: int, key: str | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
        where = f"{file}:{line}" if line else file
        text = f"{where}: {key}: {reason}" if key else f"{where}: {reason}"
        super().__init__(text)


class ContainerExists(LxcError):
    """The name is already taken in this lxcpath."""


class ContainerNotFound(LxcError):
    """No container of that name is defined in this lxcpath."""


class InvalidName(LxcError):
    """A container name that cannot be a directory name under lxcpath."""


class ContainerBusy(LxcError):
    """Another command holds the container's lock, or it is running."""
