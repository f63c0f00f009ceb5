"""What the commands' start-up needs of `os`, without importing `os`.

Why: `import os` costs every command ~1-1.5 ms of its start-up on the project's
machine (measured: `python -S -c "import os"` against `-c pass`), most of it
`_collections_abc`, whose thirty abstract classes `os` imports for `os.environ`;
a command that starts without `site` has not loaded it yet. The modules on the
path of the commands that only ask the daemon, and of `lxc-start`/`lxc-execute`,
import this module as `os` instead: the same functions for what they use, which
`os` itself takes from the `posix` module, and the few `os.path` functions and
`os.environ` reads they need, written here. Code off that path (the daemon, the
rare branches) uses the real `os`, and so may these modules inside a function.

Nothing here may import `os` at import time (tests/test_import_rules.py checks
the commands' runs).
"""

from __future__ import annotations

from posix import (
    O_APPEND,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_NONBLOCK,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    _exit,
    chmod,
    close,
    dup2,
    fstat,
    ftruncate,
    get_terminal_size,
    getcwd,
    getpid,
    isatty,
    listdir,
    lstat,
    open,  # noqa: A004 - os.open, as the callers name it
    pipe,
    read,
    readlink,
    rename,
    rmdir,
    stat,
    strerror,
    sysconf,
    unlink,
    write,
)
from posix import (
    environ as _environ,
)

__all__ = [
    "O_APPEND", "O_CLOEXEC", "O_CREAT", "O_DIRECTORY", "O_EXCL", "O_NOFOLLOW", "O_NONBLOCK", "O_PATH",
    "O_RDONLY", "O_RDWR", "O_TRUNC", "O_WRONLY", "_exit", "chmod", "close", "devnull",
    "dup2", "environ", "fstat", "ftruncate", "get_terminal_size", "getcwd", "getpid", "isatty", "listdir", "lstat", "makedirs",
    "open", "path", "pipe", "read", "readlink", "rename", "rmdir", "stat", "strerror",
    "sysconf", "unlink", "write",
]  # fmt: skip

devnull = "/dev/null"


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")  # os.fsdecode on Linux


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from posix import stat_result
    from typing import overload


class _Environ:
    """Read access to the environment, as `os.environ.get` gives it."""

    if TYPE_CHECKING:

        @overload
        def get(self, key: str) -> str | None: ...
        @overload
        def get(self, key: str, default: str) -> str: ...

    def get(self, key: str, default: str | None = None) -> str | None:
        value = _environ.get(key.encode("utf-8", "surrogateescape"))
        return default if value is None else _decode(value)

    def __contains__(self, key: str) -> bool:
        return key.encode("utf-8", "surrogateescape") in _environ


environ = _Environ()


def _join(first: str, *rest: str) -> str:
    joined = first
    for part in rest:
        if part.startswith("/"):
            joined = part
        elif not joined or joined.endswith("/"):
            joined += part
        else:
            joined += "/" + part
    return joined


def _normpath(value: str) -> str:
    """posixpath.normpath: `.`, `..` and repeated slashes folded, lexically."""
    if not value:
        return "."
    initial = 2 if value.startswith("//") and not value.startswith("///") else int(value.startswith("/"))
    parts: list[str] = []
    for part in value.split("/"):
        if part in ("", "."):
            continue
        if part != ".." or (not initial and not parts) or (parts and parts[-1] == ".."):
            parts.append(part)
        elif parts:
            parts.pop()
    normal = "/" * initial + "/".join(parts)
    return normal or "."


def _abspath(value: str) -> str:
    return _normpath(value if value.startswith("/") else _join(getcwd(), value))


def _realpath(value: str) -> str:
    """The path with every symlink resolved, as the kernel resolves it: the path of
    an O_PATH fd of it. A path that does not exist (or no /proc) gets posixpath's
    own resolution, which imports `os`."""
    try:
        fd = open(value, O_PATH | O_CLOEXEC)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            resolved = readlink(f"/proc/self/fd/{fd}")
        except OSError:
            resolved = ""
        finally:
            close(fd)
        if resolved.startswith("/") and not resolved.endswith(" (deleted)"):
            return resolved
    import posixpath

    return posixpath.realpath(value)


def _exists(value: str) -> bool:
    return _stat_or_none(value, stat) is not None


def _lexists(value: str) -> bool:
    return _stat_or_none(value, lstat) is not None


def _stat_or_none(value: str, call: Callable[[str], stat_result]) -> stat_result | None:
    try:
        return call(value)
    except (OSError, ValueError):
        return None


def _is_kind(value: str, mask: int) -> bool:
    found = _stat_or_none(value, stat)
    return found is not None and found.st_mode & 0o170000 == mask


def _isfile(value: str) -> bool:
    return _is_kind(value, 0o100000)


def _isdir(value: str) -> bool:
    return _is_kind(value, 0o040000)


def _dirname(value: str) -> str:
    head = value[: value.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


class path:  # noqa: N801 - stands for os.path
    """The `os.path` functions the commands' start-up uses, with posixpath's results."""

    join = staticmethod(_join)
    abspath = staticmethod(_abspath)
    realpath = staticmethod(_realpath)
    exists = staticmethod(_exists)
    lexists = staticmethod(_lexists)
    isfile = staticmethod(_isfile)
    isdir = staticmethod(_isdir)
    dirname = staticmethod(_dirname)


def makedirs(name: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """os.makedirs (rare: a first run's directories): the real one."""
    import os as real_os

    real_os.makedirs(name, mode, exist_ok)
