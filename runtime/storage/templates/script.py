"""LXC's executable template scripts (`lxc-create -t NAME|PATH`), run as LXC runs them.

A template that is not built in is `/usr/share/lxc/templates/lxc-NAME`
(`TRIO_LXC_TEMPLATE_DIR` moves that directory), or any executable given by a path.
What LXC 5.0.2 does, and so do we (checked by running a probe script under LXC):
- argv: the script, `--path=<lxcpath>/<name>`, `--name=<name>`,
  `--rootfs=<lxcpath>/<name>/rootfs`, the user's arguments (after `--` on
  lxc-create's line), and with `lxc.idmap` in the config `--mapped-uid U
  --mapped-gid G` last;
- the container's config is already written (the initial config and
  `lxc.rootfs.path`): the script appends to it, or rewrites it;
- the script runs as root in a mount namespace of its own (LXC unshares one to
  mount the backing store), with umask 022 and the caller's stdio, environment
  and directory;
- afterwards LXC's header comments are put in front of the config (`# Template
  used to create this container: PATH`, the parameters, the nesting hint); a
  script that fails (non-zero status) leaves nothing behind.

How: the store builds a container in a hidden staging directory and renames it into
place (runtime.storage.store), but the script must see the final paths. So in the script's
own mount namespace the staging directory is bind-mounted on `<lxcpath>/<name>`
(an empty directory meanwhile, under the container's lock; removed afterwards),
and everything the script writes lands in the staging directory.

Differences, on purpose: the script does not run under the container's id map (LXC
runs it through `lxc-usernsexec`); it runs as host root, so `--mapped-uid 0
--mapped-gid 0` say truthfully which ids stand for the caller, and the store shifts
the rootfs into the map afterwards, as for the built-in templates. The script's
environment also gets `LXC_NAME`, `LXC_PATH`, `LXC_ROOTFS` and `LXC_CONFIG_FILE`
(the values of --name, --path, --rootfs and the config's path; LXC 5.0.2 sets none).
After the script, its config is read without following a symlink and must be a
regular file, and the rootfs must still be a directory: the header is written into
a new file renamed over the config, never through a link the script left.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence

from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs lxc-create's start-up: the protocol is for annotations
    from typing import Protocol

    class ConfigTemplate(Protocol):
        """A template that writes the container's config itself (LXC's way): a
        script, `local`, `download`. The store hands it a ConfigJob."""

        writes_config: bool

        def run(self, job: ConfigJob) -> None: ...

#: Where LXC keeps its template scripts (LXCTEMPLATEDIR).
DEFAULT_TEMPLATE_DIR = "/usr/share/lxc/templates"
#: Where LXC's templates find their common configs (the header's nesting hint).
LXC_TEMPLATE_CONFIG = "/usr/share/lxc/config"


def template_dir() -> str:
    return os.environ.get("TRIO_LXC_TEMPLATE_DIR", DEFAULT_TEMPLATE_DIR)


def find_script(name: str) -> str | None:
    """The executable for `-t name`: a path as given (made absolute), else
    `<template dir>/lxc-NAME`; None when there is no such file. LxcError for a file
    that is not an executable regular file."""
    if "/" in name:
        path = os.path.abspath(name)
    else:
        path = os.path.join(template_dir(), f"lxc-{name}")
        if not os.path.lexists(path):
            return None
    try:
        info = os.stat(path)
    except OSError as err:
        raise LxcError(f"template '{name}': {path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode) or not os.access(path, os.X_OK):
        raise LxcError(f"template '{name}': {path} is not an executable file")
    return path


def available_scripts() -> list[str]:
    """The names of the template scripts in the template directory (`lxc-NAME`)."""
    try:
        entries = os.listdir(template_dir())
    except OSError:
        return []
    return sorted(e[4:] for e in entries if e.startswith("lxc-") and len(e) > 4)


def lxc_header(template: str, args: Sequence[str]) -> str:
    """The comment lines LXC puts in front of a config a template made."""
    return (
        f"# Template used to create this container: {template}\n"
        f"# Parameters passed to the template:{''.join(' ' + a for a in args)}\n"
        "# For additional config options, please look at lxc.container.conf(5)\n"
        "\n"
        "# Uncomment the following line to support nesting containers:\n"
        f"#lxc.include = {LXC_TEMPLATE_CONFIG}/nesting.conf\n"
        "# (Be aware this has security implications)\n"
        "\n"
    )


class ConfigJob:
    """What a template that writes the config file itself gets from the store.

    staging: the directory being built; final_dir: `<lxcpath>/<name>` after the
    rename; lines: the config as the store would write it (the initial config and
    lxc.rootfs.path), already in `staging/config` when the template runs;
    idmapped: the config has lxc.idmap.
    """

    __slots__ = ("name", "staging", "final_dir", "lines", "args", "idmapped")

    def __init__(
        self,
        *,
        name: str,
        staging: str,
        final_dir: str,
        lines: Sequence[tuple[str, str]],
        args: Sequence[str],
        idmapped: bool,
    ) -> None:
        self.name = name
        self.staging = staging
        self.final_dir = final_dir
        self.lines = list(lines)
        self.args = list(args)
        self.idmapped = idmapped

    @property
    def config(self) -> str:
        return os.path.join(self.staging, "config")

    @property
    def final_rootfs(self) -> str:
        return os.path.join(self.final_dir, "rootfs")


class ScriptTemplate:
    """An LXC template script; `run(job)` leaves the finished config in the staging dir."""

    #: The store hands this template a ConfigJob instead of a TemplateContext.
    writes_config = True

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"ScriptTemplate({self.path!r})"

    def argv(self, job: ConfigJob) -> list[str]:
        argv = [
            self.path,
            f"--path={job.final_dir}",
            f"--name={job.name}",
            f"--rootfs={job.final_rootfs}",
            *job.args,
        ]
        if job.idmapped:  # the caller's ids, as the script sees them (see the docstring)
            argv += ["--mapped-uid", "0", "--mapped-gid", "0"]
        return argv

    def run(self, job: ConfigJob) -> None:
        if os.geteuid() != 0:
            raise LxcError(f"template {self.path}: template scripts run as root (LXC's rule for lxc-create)")
        write_config(job.config, "".join(f"{k} = {v}\n" for k, v in job.lines))
        env = dict(os.environ)
        env.update(
            LXC_NAME=job.name,
            LXC_PATH=job.final_dir,
            LXC_ROOTFS=job.final_rootfs,
            LXC_CONFIG_FILE=os.path.join(job.final_dir, "config"),
        )
        try:
            os.mkdir(job.final_dir, 0o700)  # the mount point, empty on the host meanwhile
        except FileExistsError:
            raise LxcError("Container already exists") from None
        try:
            status = _run_bound(self.argv(job), env, job.staging, job.final_dir)
        finally:
            try:
                os.rmdir(job.final_dir)
            except OSError:
                pass
        if status != 0:
            how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            raise LxcError(f"Failed to create container from template: {self.path} {how}")
        check_rootfs(job.staging)
        finish_config(job.config, self.path, job.args)


def _run_bound(argv: list[str], env: dict[str, str], staging: str, final_dir: str) -> int:
    """Run argv in a mount namespace of its own where `staging` is seen at `final_dir`."""
    from runtime.kernel import linux

    def enter() -> None:  # in the child, before exec: single-threaded, nothing to lose
        os.umask(0o022)  # LXC's for a create, whatever the caller's
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)  # nothing goes back
        linux.mount(staging, final_dir, None, linux.MS_BIND | linux.MS_REC)

    try:
        process = subprocess.Popen(argv, env=env, preexec_fn=enter, close_fds=True)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as err:
        raise LxcError(f"Failed to execute template {argv[0]}: {err}") from None
    try:
        return process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise


def check_rootfs(staging: str) -> None:
    """The rootfs must still be a real directory (not a link to elsewhere)."""
    rootfs = os.path.join(staging, "rootfs")
    try:
        info = os.lstat(rootfs)
    except FileNotFoundError:
        raise LxcError("the template removed the container's rootfs directory") from None
    if not stat.S_ISDIR(info.st_mode):
        raise LxcError("the template replaced the container's rootfs directory with something else")


def read_config(path: str) -> str:
    """The config a template left: a regular file, read without following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as err:
        raise LxcError(f"the template left no readable config ({path}: {err.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LxcError(f"the template left {path} as something else than a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape")


def write_config(path: str, text: str) -> None:
    """Write `text` as a new file renamed over `path` (a link there is replaced, not
    followed), mode 0640 as LXC's configs."""
    directory, base = os.path.split(path)
    temporary = os.path.join(directory, f".{base}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    try:
        data = text.encode("utf-8", errors="surrogateescape")
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(temporary)
        raise
    os.close(fd)
    os.rename(temporary, path)


def finish_config(path: str, template: str, args: Sequence[str]) -> None:
    """Put LXC's header in front of what the template wrote."""
    write_config(path, lxc_header(template, args) + read_config(path))
