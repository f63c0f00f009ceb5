"""The container store: create, destroy, copy and rename containers under an lxcpath.

Every change is all-or-nothing. A new container is built aside in a hidden
directory of the lxcpath (`.NAME.creating-XXXX`: config, rootfs, template output),
checked by parsing the config it will have, and only then renamed into place, so a
failure at any step leaves nothing behind and a half-built container can never be
listed. Destroy renames the directory aside first, so the container disappears at
once even if removing a large rootfs takes a while, and refuses to run while
anything is mounted below the container (removing files through a bind mount would
delete them on the host). Each operation holds the container's lock.

The rootfs is made, copied and snapshotted through its backing store
(runtime.storage: dir, overlay, loop); an overlay clone's use of another
container's rootfs is recorded in LXC's lxc_snapshots / lxc_rdepends files, and a
container with clones, or with snapshots unless they go too, is not destroyed.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Sequence

from runtime.client.errors import (
    ConfigError,
    ContainerBusy,
    ContainerExists,
    ContainerNotFound,
    LxcError,
)
from runtime.client.locks import container_lock
from runtime.client.lxcpath import (
    BUILTIN_DEFAULT_CONFIG,
    ContainerPaths,
    default_container_config_path,
    validate_name,
)
from runtime.client.records import remove_container_records
from runtime.client.status import container_status
from runtime.config import parser
from runtime.config.parser import RawConfig
from runtime.hooks import offline as hook_runs
from runtime.storage import backends, deps
from runtime.storage import spec as rootfs_spec
from runtime.storage.fscopy import copy_tree
from runtime.storage.hwaddr import fill_config_lines, renewed
from runtime.storage.options import StoreOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from runtime.storage.templates.base import Template
    from runtime.storage.templates.script import ConfigTemplate

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
    backing: str = "dir",
    store_options: StoreOptions | None = None,
) -> ContainerPaths:
    """Create a container from a config file (or the default one) and a template,
    its rootfs in a backing store of type `backing` (runtime.storage)."""
    validate_name(name)
    backends.check_kind(backing)
    source_path = config_file or _default_config_source()
    source = _read_source_config(source_path)
    builder = _template_builder(template)
    os.makedirs(lxcpath, mode=0o755, exist_ok=True)
    paths = ContainerPaths(lxcpath, name)
    with container_lock(lxcpath, name):
        if os.path.lexists(paths.dir):
            raise ContainerExists("Container already exists")
        staging = _staging_dir(paths, "creating")
        made: list[str] = []  # a rootfs placed outside the staging directory (--dir)
        store = (backing, store_options or StoreOptions(), made)
        try:
            _populate(staging, paths, source, source_path, template, builder, template_args, store)
            os.rename(staging, paths.dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            for place in made:
                shutil.rmtree(place, ignore_errors=True)
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
    _own_store(directory, raw)


def _own_store(directory: str, raw: RawConfig) -> None:
    """An overlay's delta and work directories too (runtime.storage.overlay)."""
    from runtime.storage.overlay import own_layout
    from runtime.userns.maps import check_raw

    maps = check_raw(raw)
    if maps is not None:
        own_layout(directory, maps.root_uid, maps.root_gid)


def _template_builder(template: str | None) -> Template | ConfigTemplate | None:
    if template is None:
        return None
    from runtime.storage.templates import get_template

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
    store: tuple[str, StoreOptions, list[str]],
) -> None:
    raw, own_lines = source
    lines = fill_config_lines(own_lines)
    backing, options, made = store
    new_rootfs = None
    if (builder is not None and template != "none") or backing != "dir":
        # A template that builds a rootfs builds it in the container's directory
        # (or its backing store); -B without a template makes the store empty.
        preset_rootfs = rootfs_of(raw)
        if preset_rootfs:
            raise LxcError(
                f"{source_path}: lxc.rootfs.path is already set ({preset_rootfs}); "
                f"remove it to let the {template} template build the rootfs, or use -t none"
            )
        backends.check_mapped(backing, bool(raw.get_all("lxc.idmap")))
        if builder is not None and _writes_config(builder) and backing != "dir":
            raise LxcError(f"template '{template}' writes its own config and builds a dir rootfs: use -B dir")
        new_rootfs = backends.new_rootfs(backing, staging, paths.dir, options)
        if new_rootfs.outside:
            made.append(new_rootfs.outside)
        lines.append(("lxc.rootfs.path", new_rootfs.value))
    if builder is not None and template != "none" and new_rootfs is not None:
        if _writes_config(builder):  # LXC's way: runtime.storage.templates.script
            _run_config_template(builder, staging, paths, raw, lines, template_args)
            give_to_mapped_root(staging, raw)
            parser.parse_file(os.path.join(staging, "config"))
            return
        built = _run_template(builder, staging, paths, raw, template_args, new_rootfs.build_dir)
        lines.extend(fill_config_lines(built))
    give_to_mapped_root(staging, raw)  # lxc.idmap: the mapped root owns it (runtime.userns)
    if new_rootfs is not None:
        backends.seal(new_rootfs, staging, options)  # loop: the tree goes into its image
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
    build_dir: str,
) -> list[tuple[str, str]]:
    from runtime.storage.templates import TemplateContext

    tty_max = raw.get("lxc.tty.max")
    ctx = TemplateContext(
        name=paths.name,
        path=staging,
        rootfs=build_dir,
        final_rootfs=paths.rootfs if build_dir.startswith(staging + os.sep) else build_dir,
        args=list(template_args),
        tty_max=int(tty_max) if tty_max is not None else None,
    )
    return list(builder(ctx))


def _run_config_template(
    builder: ConfigTemplate,
    staging: str,
    paths: ContainerPaths,
    raw: RawConfig,
    lines: list[tuple[str, str]],
    template_args: Sequence[str],
) -> None:
    """A template that writes the config itself (a script, local, download): it
    leaves `staging/config` finished, LXC's header included."""
    from runtime.storage.templates.script import ConfigJob

    job = ConfigJob(
        name=paths.name, staging=staging, final_dir=paths.dir, lines=lines,
        args=list(template_args), idmapped=bool(raw.get_all("lxc.idmap")),
    )  # fmt: skip
    builder.run(job)


def _config_header(source: str | None, template: str | None, args: Sequence[str]) -> str:
    """LXC's header comments, written when a template ran (none for -t none)."""
    if template is None or template == "none":
        return ""
    from runtime.storage.templates.script import lxc_header

    return lxc_header(template, args)


def _write_new_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, text.encode("utf-8", errors="surrogateescape"))
        os.fsync(fd)
    finally:
        os.close(fd)


# -- destroy ------------------------------------------------------------------


def destroy(lxcpath: str, name: str, *, snapshots: bool = False) -> None:
    """Remove a stopped container and everything in its directory; with
    `snapshots`, its snapshots first (lxc-destroy -s), else it must have none.
    A container whose rootfs clones still use is refused (LXC's lxc_snapshots)."""
    validate_name(name)
    paths = ContainerPaths(lxcpath, name)
    with container_lock(lxcpath, name):
        if not paths.is_defined():
            raise ContainerNotFound("Container is not defined")
        if is_running(lxcpath, name):
            raise ContainerBusy(f"{name} is running")
        refuse_dependents(paths, snapshots)
        if snapshots:
            from runtime.storage import snapshots as snaps

            snaps.destroy_all(paths)
        _remove(paths)


def refuse_dependents(paths: ContainerPaths, snapshots_too: bool = False) -> None:
    """LXC's refusals: a container with clones (they use its rootfs), or with
    snapshots unless they go too (`snapshots_too`)."""
    from runtime.storage import snapshots as snaps

    if not snapshots_too and snaps.names(paths):
        raise ContainerBusy(f"Destroying {paths.name} failed: {paths.name} has snapshots")
    if deps.dependents(paths):
        raise ContainerBusy(f"Destroying {paths.name} failed: {paths.name} has clones")


def remove_stopped(lxcpath: str, name: str) -> None:
    """destroy() for the daemon, which knows the container stopped (lxc.ephemeral):
    the same removal without asking the daemon whether it runs."""
    paths = ContainerPaths(lxcpath, name)
    with container_lock(lxcpath, name):
        if paths.is_defined():
            refuse_dependents(paths)
            _remove(paths)


def remove_defined(paths: ContainerPaths) -> None:
    """Remove a container known to be stopped, under its lock (a snapshot: no
    daemon runs it)."""
    _remove(paths)


def restore_in_place(paths: ContainerPaths, snap: ContainerPaths) -> ContainerPaths:
    """lxc-snapshot -r SNAP: the container's config and rootfs become a copy of the
    snapshot's; its snapshots stay. Built aside, then swapped in."""
    with container_lock(paths.lxcpath, paths.name):
        if is_running(paths.lxcpath, paths.name):
            raise ContainerBusy(f"{paths.name} is running; stop it first")
        staging = _staging_dir(paths, "restoring")
        os.rmdir(staging)
        origin: deps.Ref | None = None
        try:
            value, origin = _copy_container(
                snap, load_config(snap), paths, staging, False, None, StoreOptions()
            )
            _retarget_config(os.path.join(staging, "config"), snap, paths, False, True, value)
            if origin is not None:
                deps.record(paths, origin, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old_origin = deps.origin(paths)
        old = os.path.join(paths.lxcpath, f".{paths.name}.restored-{os.getpid()}")
        os.rename(paths.dir, old)
        os.rename(staging, paths.dir)
        for entry in _entries_still_used(value, paths.dir, old):
            if os.path.isdir(os.path.join(paths.dir, entry)):
                os.rmdir(os.path.join(paths.dir, entry))  # the empty mount point
            os.rename(os.path.join(old, entry), os.path.join(paths.dir, entry))
        if old_origin is not None and old_origin != origin:
            deps.forget(paths, old_origin)
        shutil.rmtree(old)
    return paths


def _entries_still_used(value: str | None, new_dir: str, old_dir: str) -> list[str]:
    """Entries of the old directory the restored rootfs still names (an overlay's
    lower directory inside the container's own, as `lxc-create -B overlay` makes),
    and its snapshots: moved over rather than removed."""
    found = ["snaps"] if os.path.isdir(os.path.join(old_dir, "snaps")) else []
    if value:
        spec = rootfs_spec.parse(value)
        if spec.kind == "overlay":
            inside = os.path.relpath(spec.path, new_dir)
            if not inside.startswith(".."):
                found.append(inside.split(os.sep)[0])
    return found


def _remove(paths: ContainerPaths) -> None:
    """Remove a defined, stopped container's directory (keeping an unmanaged rootfs)."""
    name, lxcpath = paths.name, paths.lxcpath
    _refuse_mounts_below(paths.dir)
    hook_runs.destroy(paths.config, name)  # lxc.hook.destroy: a failure keeps it
    kept = _unmanaged_rootfs_entry(paths)
    origin = deps.origin(paths)
    doomed = os.path.join(paths.lxcpath, f".{name}.destroying-{os.getpid()}")
    os.rename(paths.dir, doomed)
    if origin is not None:  # an overlay clone: its origin may be destroyed now
        deps.forget(paths, origin)
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

    Raises ContainerBusy when LXC itself runs it (runtime.client.lxc_native): no command of
    ours may stop, destroy or copy a container it does not supervise."""
    from runtime.client.daemon_client import container_state
    from runtime.client.lxc_native import find, refusal

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
    snapshot: bool = False,
    backing: str | None = None,
    store_options: StoreOptions | None = None,
    allow_running: bool = False,
    run_hooks: bool = True,
    settings: Sequence[tuple[str, str]] = (),
) -> ContainerPaths:
    """Clone (or with `rename`, move) a stopped container to a new name and/or lxcpath.

    `snapshot`: an overlay clone on the original's rootfs (recorded in both
    containers' dependency files, runtime.storage.deps); `backing`: the copy's
    store type (-B; the original's by default); `allow_running` (lxc-copy -a): copy
    a running container. `settings`: keys set in the copy's config (lxc.ephemeral
    for lxc-copy -e; a list key such as lxc.mount.entry gets one line each).
    A clone runs the copy's lxc.hook.clone with `hook_args` (runtime.hooks.offline),
    unless not `run_hooks` (a snapshot); if one fails the copy is removed again."""
    validate_name(name)
    validate_name(new_name)
    src = ContainerPaths(lxcpath, name)
    dst = ContainerPaths(new_lxcpath or lxcpath, new_name)
    if src.dir == dst.dir:
        raise LxcError(f"the new container would be {dst.dir}, the same as the original")
    first, second = sorted([(src.lxcpath, name), (dst.lxcpath, new_name)])
    with container_lock(*first), container_lock(*second):
        src_raw = load_config(src)
        if (rename or not allow_running) and is_running(lxcpath, name):
            raise ContainerBusy(
                f"error: Original container ({name}) is running; stop it first (lxc-stop -n {name})"
                + ("" if rename else ", or use --allowrunning")
            )
        if os.path.lexists(dst.dir):
            raise ContainerExists(f"Container {new_name} already exists")
        if rename and (deps.dependents(src) or deps.origin(src)):
            raise ContainerBusy(
                f"{name} has clones or is one (lxc_snapshots, lxc_rdepends): it cannot be renamed"
            )
        os.makedirs(dst.lxcpath, mode=0o755, exist_ok=True)
        staging = _staging_dir(dst, "copying")
        os.rmdir(staging)
        origin: deps.Ref | None = None
        try:
            rootfs_value = None
            if rename:
                _refuse_mounts_below(src.dir)
                _move(src.dir, staging)
            else:
                rootfs_value, origin = _copy_container(
                    src, src_raw, dst, staging, snapshot, backing, store_options or StoreOptions()
                )
            _retarget_config(
                os.path.join(staging, "config"), src, dst, keep_name, keep_mac, rootfs_value
            )
            _apply_settings(os.path.join(staging, "config"), settings)
            if origin is not None:
                deps.record(dst, origin, staging)
            os.rename(staging, dst.dir)
            if rename:
                remove_container_records(lxcpath, name)  # stale ones must not follow the name
        except BaseException:
            if origin is not None:
                deps.forget(dst, origin)
            if rename and os.path.isdir(staging) and not os.path.exists(src.dir):
                os.rename(staging, src.dir)
            else:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        if not rename and run_hooks:
            try:
                hook_runs.clone(dst.config, new_name, name, list(hook_args))
            except BaseException:
                if origin is not None:
                    deps.forget(dst, origin)
                shutil.rmtree(dst.dir, ignore_errors=True)
                raise
    return dst


def _copy_container(
    src: ContainerPaths,
    src_raw: RawConfig,
    dst: ContainerPaths,
    staging: str,
    snapshot: bool,
    backing: str | None,
    options: StoreOptions,
) -> tuple[str | None, deps.Ref | None]:
    """Copy the container's directory into `staging`, its rootfs through its store
    (runtime.storage.backends): (the copy's lxc.rootfs.path, the container whose
    rootfs it goes on using). Snapshots and dependency files are never copied."""
    value = src_raw.get("lxc.rootfs.path")
    if not value:
        if snapshot or backing not in (None, "dir"):
            raise LxcError(f"{src.name} has no rootfs (lxc.rootfs.path) to snapshot or copy")
        copy_tree(src.dir, staging, backends.STORE_ENTRIES - {"rootfs", "overlay"})
        return None, None
    try:
        spec = rootfs_spec.parse(value)
    except ValueError as err:
        raise LxcError(f"{src.config}: lxc.rootfs.path: {err}") from None
    kind = backends.copy_kind(spec, backing, snapshot)
    backends.check_mapped(kind, bool(src_raw.get_all("lxc.idmap")))
    exclude = set(backends.STORE_ENTRIES)
    if os.path.basename(src.lxcpath) == "snaps":  # a snapshot's own files stay with it
        exclude.update(("ts", "comment"))
    for path in (spec.path, spec.upper):
        inside = os.path.relpath(path, src.dir) if path else ".."
        if inside != "." and not inside.startswith(".."):
            exclude.add(inside.split(os.sep)[0])
    copy_tree(src.dir, staging, frozenset(exclude))
    result = backends.copy_rootfs(spec, kind, staging, dst, options)
    _own_store(staging, src_raw)  # lxc.idmap: the mapped root mounts the overlay
    return result


def _apply_settings(config_path: str, settings: Sequence[tuple[str, str]]) -> None:
    from runtime.config.keys import LIST, lookup
    from runtime.config.writer import append_key_to_file, set_keys_in_file

    for key, value in settings:
        if lookup(key).spec.kind == LIST:
            append_key_to_file(config_path, key, value)
        else:
            set_keys_in_file(config_path, {key: value})


def _move(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno != 18:  # EXDEV: another filesystem; copy, then remove
            raise
        copy_tree(src, dst)
        shutil.rmtree(src)


def _retarget_config(
    config_path: str,
    src: ContainerPaths,
    dst: ContainerPaths,
    keep_name: bool,
    keep_mac: bool,
    rootfs_value: str | None = None,
) -> None:
    """Point the copy's config at its own directory, name, rootfs and fresh MACs."""
    from runtime.config.writer import set_keys_in_file

    _replace_path_prefix(config_path, src.dir, dst.dir)
    raw = parser.parse_file(config_path)
    changes: dict[str, str | None] = {}
    if rootfs_value is not None:
        changes["lxc.rootfs.path"] = rootfs_value
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
