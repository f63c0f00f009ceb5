"""The container store: create, destroy, copy and rename containers under an lxcpath.

Every change is all-or-nothing. A new container is built aside in a hidden
directory of the lxcpath (`.NAME.creating-XXXX`: config, rootfs, template output),
checked by parsing the config it will have, and only then renamed into place, so a
failure at any step leaves nothing behind and a half-built container can never be
listed. Destroy renames the directory aside first, so the container disappears at
once even if removing a large rootfs takes a while, and refuses to run while
anything is mounted below the container (removing files through a bind mount would
delete them on the host). Each operation holds the container's lock.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Sequence

from runtime.config import parser
from runtime.config.parser import RawConfig
from runtime.errors import ConfigError, ContainerBusy, ContainerExists, ContainerNotFound, LxcError
from runtime.fscopy import copy_tree
from runtime.hooks import offline as hook_runs
from runtime.hwaddr import fill_config_lines, renewed
from runtime.locks import container_lock
from runtime.lxcpath import (
    BUILTIN_DEFAULT_CONFIG,
    ContainerPaths,
    default_container_config_path,
    validate_name,
)
from runtime.records import remove_container_records
from runtime.status import container_status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from runtime.templates.base import Template
    from runtime.templates.script import ConfigTemplate

ROOTFS_PREFIX = "dir:"


def rootfs_of(raw: RawConfig) -> str | None:
    """The rootfs directory named by lxc.rootfs.path (without LXC's `dir:` prefix)."""
    value = raw.get("lxc.rootfs.path")
    if not value:
        return None
    return value[len(ROOTFS_PREFIX) :] if value.startswith(ROOTFS_PREFIX) else value


def load_config(paths: ContainerPaths) -> RawConfig:
    """Parse a defined container's config, or raise ContainerNotFound."""
    if not paths.is_defined():
        raise ContainerNotFound(f"{paths.name} doesn't exist")
    return parser.parse_file(paths.config)


# -- create -------------------------------------------------------------------


def create(
    lxcpath: str,
    name: str,
    *,
    config_file: str | None = None,
    template: str | None = None,
    template_args: Sequence[str] = (),
) -> ContainerPaths:
    """Create a container from a config file (or the default one) and a template."""
    validate_name(name)
    source_path = config_file or _default_config_source()
    source = _read_source_config(source_path)
    builder = _template_builder(template)
    os.makedirs(lxcpath, mode=0o755, exist_ok=True)
    paths = ContainerPaths(lxcpath, name)
    with container_lock(lxcpath, name):
        if os.path.lexists(paths.dir):
            raise ContainerExists("Container already exists")
        staging = _staging_dir(paths, "creating")
        try:
            _populate(staging, paths, source, source_path, template, builder, template_args)
            os.rename(staging, paths.dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return paths


def _default_config_source() -> str | None:
    path = default_container_config_path()
    return path if os.path.isfile(path) else None


def _read_source_config(path: str | None) -> tuple[RawConfig, list[tuple[str, str]]]:
    """The source config parsed (to validate it) and its own lxc.* lines to copy."""
    if path is None:
        text, label = BUILTIN_DEFAULT_CONFIG, "<built-in default config>"
        return parser.parse_text(text, label), _own_lines(text, "/")
    raw = parser.parse_file(path)
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    return raw, _own_lines(text, os.path.dirname(os.path.abspath(path)))


def _own_lines(text: str, base_dir: str) -> list[tuple[str, str]]:
    """The key/value lines of a config file, relative includes made absolute."""
    lines = []
    for raw_line in text.splitlines():
        parsed = parser.split_line(raw_line)
        if parsed is None:
            continue
        key, value = parsed
        if key == "lxc.include" and value and not os.path.isabs(value):
            value = os.path.join(base_dir, value)
        lines.append((key, value))
    return lines


def give_to_mapped_root(directory: str, raw: RawConfig) -> None:
    """An unprivileged container's directory and rootfs belong to its mapped root."""
    from runtime.userns.chown import own_container

    own_container(directory, raw)


def _template_builder(template: str | None) -> Template | ConfigTemplate | None:
    if template is None:
        return None
    from runtime.templates import get_template

    return get_template(template)


def _staging_dir(paths: ContainerPaths, purpose: str) -> str:
    suffix = f"{os.getpid()}-{random.randrange(1 << 32):08x}"
    staging = os.path.join(paths.lxcpath, f".{paths.name}.{purpose}-{suffix}")
    os.mkdir(staging)
    os.chmod(staging, 0o770)  # LXC's mode for a container directory, whatever the umask
    return staging


def _populate(
    staging: str,
    paths: ContainerPaths,
    source: tuple[RawConfig, list[tuple[str, str]]],
    source_path: str | None,
    template: str | None,
    builder: Template | ConfigTemplate | None,
    template_args: Sequence[str],
) -> None:
    raw, own_lines = source
    lines = fill_config_lines(own_lines)
    if builder is not None and template != "none":
        # A template that builds a rootfs builds it in the container's directory.
        preset_rootfs = rootfs_of(raw)
        if preset_rootfs:
            raise LxcError(
                f"{source_path}: lxc.rootfs.path is already set ({preset_rootfs}); "
                f"remove it to let the {template} template build the rootfs, or use -t none"
            )
        os.mkdir(os.path.join(staging, "rootfs"), 0o755)
        lines.append(("lxc.rootfs.path", ROOTFS_PREFIX + paths.rootfs))
        if _writes_config(builder):  # LXC's way: runtime.templates.script
            _run_config_template(builder, staging, paths, raw, lines, template_args)
            give_to_mapped_root(staging, raw)
            parser.parse_file(os.path.join(staging, "config"))
            return
        lines.extend(fill_config_lines(_run_template(builder, staging, paths, raw, template_args)))
    give_to_mapped_root(staging, raw)  # lxc.idmap: the mapped root owns it (runtime.userns)
    header = _config_header(source_path, template, template_args)
    config_path = os.path.join(staging, "config")
    _write_new_file(config_path, header + "".join(f"{k} = {v}\n" for k, v in lines))
    # Parse what was written: the container must be loadable before it exists.
    parser.parse_file(config_path)


def _writes_config(builder: Template | ConfigTemplate) -> TypeIs[ConfigTemplate]:
    """A template that writes the config itself (a script, local, download)."""
    return bool(getattr(builder, "writes_config", False))


def _run_template(
    builder: Template,
    staging: str,
    paths: ContainerPaths,
    raw: RawConfig,
    template_args: Sequence[str],
) -> list[tuple[str, str]]:
    from runtime.templates import TemplateContext

    tty_max = raw.get("lxc.tty.max")
    ctx = TemplateContext(
        name=paths.name,
        path=staging,
        rootfs=os.path.join(staging, "rootfs"),
        final_rootfs=paths.rootfs,
        args=list(template_args),
        tty_max=int(tty_max) if tty_max is not None else None,
    )
    return list(builder(ctx))


def _run_config_template(
    builder: object,
    staging: str,
    paths: ContainerPaths,
    raw: RawConfig,
    lines: list[tuple[str, str]],
    template_args: Sequence[str],
) -> None:
    """A template that writes the config itself (a script, local, download): it
    leaves `staging/config` finished, LXC's header included."""
    from runtime.templates.script import ConfigJob

    job = ConfigJob(
        name=paths.name, staging=staging, final_dir=paths.dir, lines=lines,
        args=list(template_args), idmapped=bool(raw.get_all("lxc.idmap")),
    )  # fmt: skip
    builder.run(job)  # type: ignore[attr-defined]


def _config_header(source: str | None, template: str | None, args: Sequence[str]) -> str:
    """LXC's header comments, written when a template ran (none for -t none)."""
    if template is None or template == "none":
        return ""
    from runtime.templates.script import lxc_header

    return lxc_header(template, args)


def _write_new_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, text.encode("utf-8", errors="surrogateescape"))
        os.fsync(fd)
    finally:
        os.close(fd)


# -- destroy ------------------------------------------------------------------


def destroy(lxcpath: str, name: str) -> None:
    """Remove a stopped container and everything in its directory."""
    validate_name(name)
    paths = ContainerPaths(lxcpath, name)
    with container_lock(lxcpath, name):
        if not paths.is_defined():
            raise ContainerNotFound("Container is not defined")
        if is_running(lxcpath, name):
            raise ContainerBusy(f"{name} is running")
        _remove(paths)


def remove_stopped(lxcpath: str, name: str) -> None:
    """destroy() for the daemon, which knows the container stopped (lxc.ephemeral):
    the same removal without asking the daemon whether it runs."""
    paths = ContainerPaths(lxcpath, name)
    with container_lock(lxcpath, name):
        if paths.is_defined():
            _remove(paths)


def _remove(paths: ContainerPaths) -> None:
    """Remove a defined, stopped container's directory (keeping an unmanaged rootfs)."""
    name, lxcpath = paths.name, paths.lxcpath
    _refuse_mounts_below(paths.dir)
    hook_runs.destroy(paths.config, name)  # lxc.hook.destroy: a failure keeps it
    kept = _unmanaged_rootfs_entry(paths)
    doomed = os.path.join(paths.lxcpath, f".{name}.destroying-{os.getpid()}")
    os.rename(paths.dir, doomed)
    if kept is not None:  # lxc.rootfs.managed = 0: the rootfs stays where it was
        os.mkdir(paths.dir, 0o755)
        os.rename(os.path.join(doomed, kept), os.path.join(paths.dir, kept))
    remove_container_records(lxcpath, name)
    shutil.rmtree(doomed)


def rootfs_is_managed(raw: RawConfig) -> bool:
    """lxc.rootfs.managed (default 1): whether lxc-destroy removes the rootfs."""
    return raw.get("lxc.rootfs.managed") != "0"


def _unmanaged_rootfs_entry(paths: ContainerPaths) -> str | None:
    """The entry of the container's directory that holds an unmanaged rootfs (to keep
    when the rest goes); None when the rootfs is managed or lies elsewhere (then
    removing the directory leaves it alone anyway)."""
    try:
        raw = parser.parse_file(paths.config)
    except (OSError, ConfigError):
        return None  # a broken config: the directory goes, as LXC removes it
    rootfs = rootfs_of(raw)
    if rootfs_is_managed(raw) or not rootfs:
        return None
    inside = os.path.relpath(os.path.realpath(rootfs), os.path.realpath(paths.dir))
    if inside == "." or inside == ".." or inside.startswith(".." + os.sep):
        return None
    return inside.split(os.sep)[0]


def is_running(lxcpath: str, name: str) -> bool:
    """Whether the container runs: the daemon's word, or its records when none runs.

    Raises ContainerBusy when LXC itself runs it (runtime.lxc_native): no command of
    ours may stop, destroy or copy a container it does not supervise."""
    from runtime.daemon_client import container_state
    from runtime.lxc_native import find, refusal

    run = find(lxcpath, name)
    if run is not None:
        raise ContainerBusy(refusal(lxcpath, name, run))

    state = container_state(lxcpath, name)
    if state is None:
        return container_status(lxcpath, name).running
    return state != "STOPPED"


def _refuse_mounts_below(directory: str) -> None:
    below = mounts_below(directory)
    if below:
        raise ContainerBusy(
            f"{below[0]} is mounted inside the container's directory; "
            "unmount it first (removing files through a mount would delete them on the host)"
        )


def mounts_below(directory: str) -> list[str]:
    """Mount points at or below `directory` in this mount namespace."""
    prefix = os.path.realpath(directory)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            target = _unescape_mount_path(line.split()[4])
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def _unescape_mount_path(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


# -- copy and rename ----------------------------------------------------------


def copy(
    lxcpath: str,
    name: str,
    new_name: str,
    *,
    new_lxcpath: str | None = None,
    keep_name: bool = False,
    keep_mac: bool = False,
    rename: bool = False,
    hook_args: Sequence[str] = (),
) -> ContainerPaths:
    """Clone (or with `rename`, move) a stopped container to a new name and/or lxcpath.

    A clone runs the copy's lxc.hook.clone with `hook_args` (runtime.hooks.offline);
    if one fails the copy is removed again."""
    validate_name(name)
    validate_name(new_name)
    src = ContainerPaths(lxcpath, name)
    dst = ContainerPaths(new_lxcpath or lxcpath, new_name)
    if src.dir == dst.dir:
        raise LxcError(f"the new container would be {dst.dir}, the same as the original")
    first, second = sorted([(src.lxcpath, name), (dst.lxcpath, new_name)])
    with container_lock(*first), container_lock(*second):
        load_config(src)
        if is_running(lxcpath, name):
            raise ContainerBusy(
                f"error: Original container ({name}) is running; stop it first (lxc-stop -n {name})"
            )
        if os.path.lexists(dst.dir):
            raise ContainerExists(f"Container {new_name} already exists")
        os.makedirs(dst.lxcpath, mode=0o755, exist_ok=True)
        staging = _staging_dir(dst, "copying")
        os.rmdir(staging)
        try:
            if rename:
                _refuse_mounts_below(src.dir)
                _move(src.dir, staging)
            else:
                copy_tree(src.dir, staging)
            _retarget_config(os.path.join(staging, "config"), src, dst, keep_name, keep_mac)
            os.rename(staging, dst.dir)
            if rename:
                remove_container_records(lxcpath, name)  # stale ones must not follow the name
        except BaseException:
            if rename and os.path.isdir(staging) and not os.path.exists(src.dir):
                os.rename(staging, src.dir)
            else:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        if not rename:
            try:
                hook_runs.clone(dst.config, new_name, name, list(hook_args))
            except BaseException:
                shutil.rmtree(dst.dir, ignore_errors=True)
                raise
    return dst


def _move(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno != 18:  # EXDEV: another filesystem; copy, then remove
            raise
        copy_tree(src, dst)
        shutil.rmtree(src)


def _retarget_config(
    config_path: str, src: ContainerPaths, dst: ContainerPaths, keep_name: bool, keep_mac: bool
) -> None:
    """Point the copy's config at its own directory, name and fresh MAC addresses."""
    from runtime.config.writer import set_keys_in_file

    _replace_path_prefix(config_path, src.dir, dst.dir)
    raw = parser.parse_file(config_path)
    changes: dict[str, str | None] = {}
    if not keep_name:
        changes["lxc.uts.name"] = dst.name
    if not keep_mac:
        for index in raw.net_indices():
            key = f"lxc.net.{index}.hwaddr"
            current = raw.get(key)
            if current:
                changes[key] = new_hwaddr(current)
    if changes:
        set_keys_in_file(config_path, changes)


def _replace_path_prefix(config_path: str, old_dir: str, new_dir: str) -> None:
    """Rewrite values that point into the old container directory (rootfs, fstab, logs)."""
    with open(config_path, encoding="utf-8", errors="surrogateescape") as handle:
        lines = handle.read().splitlines(keepends=True)
    pattern = re.compile(re.escape(old_dir) + r"(?=/|$|\s)")
    changed = [
        pattern.sub(new_dir, line) if parser.split_line(line) is not None else line
        for line in lines
    ]
    if changed != lines:
        tmp = config_path + ".tmp"
        mode = os.stat(config_path).st_mode & 0o7777
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.write(fd, "".join(changed).encode("utf-8", errors="surrogateescape"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, config_path)


def new_hwaddr(current: str) -> str:
    """A copy's MAC: a template filled, else random keeping the vendor part."""
    return renewed(current)
