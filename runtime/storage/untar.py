"""Unpack a tarball one checked member at a time, on any Python 3.11.

An image is untrusted data. Each member is handed to a *check* just before it is
written, so a symlink an earlier member made is already on disk when a later member's
path is resolved; the check returns the member to write (renamed, say), None to skip
it, or raises to refuse the whole archive.

Why not `TarFile.extractall(filter=...)`: extraction filters arrived in 3.11.4, and
the interpreter the project runs on (Debian 12's 3.11.2, built with PGO and LTO, see
the Makefile) has none. This loop is what extractall does (directories' owners,
times and modes set last, deepest first, so a read-only directory can still be
filled), with the check in front of every member. Where the interpreter has filters,
each write is told the member is trusted, as checked, so 3.14's default `data`
filter does not strip the set-uid bits and device nodes a system image needs.
"""

from __future__ import annotations

import copy
import os
import tarfile
from collections.abc import Callable

#: The check: member -> the member to write, or None to skip it (or it raises).
Check = Callable[[tarfile.TarInfo], "tarfile.TarInfo | None"]

_TRUSTED: dict[str, str] = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def renamed(member: tarfile.TarInfo, **fields: str) -> tarfile.TarInfo:
    """A copy of `member` with `fields` (name, linkname) replaced; the archive's own
    member list is left as it was."""
    changed = copy.copy(member)
    for field, value in fields.items():
        setattr(changed, field, value)
    return changed


def extract_checked(archive: tarfile.TarFile, destination: str, check: Check, *, numeric_owner: bool = False) -> None:
    """Write every member `check` lets through under `destination`, in archive order."""
    directories: list[tarfile.TarInfo] = []
    for member in archive.getmembers():
        checked = check(member)
        if checked is None:
            continue
        if checked.isdir():
            directories.append(checked)
        archive.extract(
            checked, destination, set_attrs=not checked.isdir(), numeric_owner=numeric_owner, **_TRUSTED  # type: ignore[arg-type]
        )
    directories.sort(key=lambda member: member.name, reverse=True)
    real_destination = os.path.realpath(destination)
    for directory in directories:
        path = os.path.normpath(os.path.join(real_destination, directory.name))
        if os.path.realpath(path) != path:  # no longer the directory written (never follow a link)
            continue
        archive.chown(directory, path, numeric_owner)
        archive.utime(directory, path)
        archive.chmod(directory, path)
