"""Reading a bundle without being led out of it: config.json and root.path.

A bundle is assembled from an image and by tools: a symlink in it (config.json,
or the rootfs directory) that points elsewhere on the host must not make the
runtime, root, read a host file as the config or boot a host directory as the
container's root. So:

- config.json is opened below the bundle (openat2 RESOLVE_BENEATH: a symlink or
  `..` leading out of it fails), must be a regular file of at most MAX_JSON
  bytes, and JSON nested deeper than Python's parser goes is a SpecError too
  (RecursionError is not a ValueError);
- a relative root.path must resolve below the bundle the same way; an absolute
  one is the caller's explicit choice (the OCI spec allows it) but, as runc
  requires, must not be or contain a symlink: the path checked is the path
  mounted, not one a later swap of a link could change.
"""

from __future__ import annotations

import errno
import json
import os
import stat

from runtime.kernel import linux
from runtime.oci.errors import SpecError

#: The largest config.json or process.json read (runc's files are a few KiB).
MAX_JSON = 16 << 20

_BENEATH = linux.RESOLVE_BENEATH | linux.RESOLVE_NO_MAGICLINKS


def _describe(err: OSError) -> str:
    if err.errno == errno.EXDEV:
        return "it leads out of the bundle (a symlink or '..')"
    return err.strerror or str(err)


def load_json(path: str, field: str, beneath: bool = True) -> object:
    """The JSON value in file `path`; SpecError naming `field` when it cannot be had.

    `beneath`: `path`'s last component is resolved below its directory (config.json
    in a bundle); otherwise the file is opened as named (a process.json the caller
    names), still without following a symlink as its last component.
    """
    directory, name = os.path.split(os.path.abspath(path))
    try:
        if beneath:
            dirfd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fd = linux.openat2(dirfd, name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, resolve=_BENEATH)
            finally:
                os.close(dirfd)
        else:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as err:
        raise SpecError(field, f"cannot read {path}: {_describe(err)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(field, f"{path} is not a regular file")
        if info.st_size > MAX_JSON:
            raise SpecError(field, f"{path} is larger than {MAX_JSON >> 20} MiB")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_JSON + 1)
    except OSError as err:
        raise SpecError(field, f"cannot read {path}: {_describe(err)}") from None
    finally:
        os.close(fd)
    return loads(data, field, MAX_JSON)


def loads(data: bytes, field: str, limit: int = MAX_JSON) -> object:
    """The JSON value in `data` (read up to limit + 1 bytes); SpecError naming `field`."""
    if len(data) > limit:
        raise SpecError(field, f"larger than {limit} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise SpecError(field, "not valid JSON: nested too deeply") from None
    except ValueError as err:  # UnicodeDecodeError included
        raise SpecError(field, f"not valid JSON: {err}") from None


def rootfs_path(bundle: str, path: str) -> str:
    """root.path as the absolute, symlink-free directory to use; SpecError otherwise."""
    bundle = os.path.realpath(bundle)  # the bundle itself is where the caller says
    if not os.path.isabs(path):
        try:
            dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fd = linux.openat2(dirfd, path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, resolve=_BENEATH)
            finally:
                os.close(dirfd)
            os.close(fd)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                raise SpecError("root.path", f"'{os.path.join(bundle, path)}' is not a directory") from None
            raise SpecError("root.path", f"'{path}': {_describe(err)}") from None
    full = os.path.normpath(os.path.join(bundle, path))
    if not os.path.isdir(full):
        raise SpecError("root.path", f"'{full}' is not a directory")
    if os.path.realpath(full) != full:
        raise SpecError("root.path", f"'{full}' is a symlink or has one in it")
    return full
