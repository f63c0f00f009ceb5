"""The one error type of container setup.

Why a type of its own: every failure between fork and exec ends as a single line
on the sync socket that the daemon shows as the reason a start aborted, so the
message has to name what the user can fix (the config key and the path), not the
system call that happened to fail. Code that knows the key raises SetupError; the
child's top level turns anything else into a message too, but a less helpful one.
"""

from __future__ import annotations

import os

from runtime.kernel import linux


class SetupError(Exception):
    """Container setup failed; `str(err)` is the line the user sees."""

    def __init__(self, key: str | None, message: str) -> None:
        self.key = key
        self.message = f"{key}: {message}" if key else message
        super().__init__(self.message)


def describe_os_error(err: OSError) -> str:
    """`strerror` of an OSError, without the call details ctypes wrappers add."""
    if err.errno is not None:
        return os.strerror(err.errno)
    return str(err)


def unshare(flags: int, key: str, what: str) -> None:
    """unshare(2) `flags`; on failure a SetupError naming `key` and saying `what`
    could not be created, so every namespace the child makes fails the same way."""
    try:
        linux.unshare(flags)
    except OSError as err:
        raise SetupError(key, f"cannot create {what}: {describe_os_error(err)}") from None
