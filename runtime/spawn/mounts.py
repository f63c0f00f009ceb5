"""The container's mount table: rootfs, lxc.mount.auto, fstab and entries, pivot_root.

Everything runs in the container's new mount namespace, from the host side of
`pivot_root`, in this order:

1. `/` is made recursively slave: nothing mounted here propagates to the host,
   and the host's own later unmounts still reach us.
2. The rootfs (`lxc.rootfs.path`, a directory, `dir:` prefix allowed) is
   bind-mounted recursively onto itself, or onto `lxc.rootfs.mount` when set; an
   overlay or loop rootfs is mounted there instead (`runtime.storage.childmount`).
   Without a rootfs the host's root is used as it is (in the private namespace).
3. `lxc.mount.auto` proc and sys (or, in an application container or one on the
   host's root with a new pid namespace, a plain /proc of that namespace, as
   lxc-init's transient /proc), then the autodev /dev (`runtime.spawn.devices`),
   then `lxc.mount.fstab`, then `lxc.mount.entry`, in file order, then the cgroup
   part of `lxc.mount.auto` (`runtime.spawn.cgroupfs`), then the new devpts,
   /dev/shm and the terminals.
4. `lxc.rootfs.options` are applied to the rootfs mount (ro, nosuid, ...), then
   `pivot_root` into it and the old root is detached: no host mount stays visible.

Targets are resolved inside the rootfs (`runtime.spawn.resolve`): a relative target
is relative to the rootfs, an absolute one is taken inside the rootfs too (with the
rootfs path itself stripped when the target starts with it, as in the seed's sshd
fstab that names `/home/root/sshd/rootfs/lib`). Sources are host paths, except with
the `relative` option (LXC's), which takes the source inside the rootfs as well.

Decisions worth knowing:
- A missing mountpoint for an automatic mount (/proc, /sys, /dev, /dev/pts) is
  created as an empty 0755 directory; LXC refuses to start instead. That is the
  only change setup makes to a rootfs on its own (entries change it only when they
  say `create=`). `lxc.rootfs.options` apply after this step, so a read-only rootfs
  still gets them; a rootfs on a read-only filesystem that lacks them fails with a
  message naming the mountpoint.
- Read-only is always applied as a bind remount (MS_REMOUNT|MS_BIND|MS_RDONLY) of
  the one mount, never by mounting a pseudo filesystem with MS_RDONLY: proc, sysfs,
  cgroup and mqueue superblocks can be shared with the host, and a read-only flag
  on the superblock would make the host's mount read-only too. Block devices are
  the exception (mounted read-only directly, so a dirty journal is not replayed).
- A remount keeps the flags the mount already has (nosuid, nodev, ...), read with
  statvfs, so `ro` on a bind of a nosuid mount does not make it suid again.
- `proc` (= `proc:mixed`) leaves /proc writable but binds /proc/sys and
  /proc/sysrq-trigger read-only over themselves, with /proc/sys/net writable again
  when the container has its own network namespace. `sys` (= `sys:mixed`) mounts
  sysfs read-only except /sys/devices/virtual/net.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from runtime.config.model import MountEntry
from runtime.config.plain import structure
from runtime.config.values import mount_entry as parse_fstab_line
from runtime.kernel import linux, start_trace
from runtime.spawn import resolve
from runtime.spawn.errors import SetupError, describe_os_error
from runtime.storage import childmount, hostfiles
from runtime.storage import spec as rootfs_spec
from runtime.userns import idmapped

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: Option -> (flags to set, flags to clear).
_FLAG_OPTIONS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (linux.MS_RDONLY, 0),
    "rw": (0, linux.MS_RDONLY),
    "nosuid": (linux.MS_NOSUID, 0),
    "suid": (0, linux.MS_NOSUID),
    "nodev": (linux.MS_NODEV, 0),
    "dev": (0, linux.MS_NODEV),
    "noexec": (linux.MS_NOEXEC, 0),
    "exec": (0, linux.MS_NOEXEC),
    "sync": (linux.MS_SYNCHRONOUS, 0),
    "async": (0, linux.MS_SYNCHRONOUS),
    "dirsync": (linux.MS_DIRSYNC, 0),
    "mand": (linux.MS_MANDLOCK, 0),
    "nomand": (0, linux.MS_MANDLOCK),
    "atime": (0, linux.MS_NOATIME),
    "noatime": (linux.MS_NOATIME, 0),
    "diratime": (0, linux.MS_NODIRATIME),
    "nodiratime": (linux.MS_NODIRATIME, 0),
    "relatime": (linux.MS_RELATIME, 0),
    "norelatime": (0, linux.MS_RELATIME),
    "strictatime": (linux.MS_STRICTATIME, 0),
    "lazytime": (linux.MS_LAZYTIME, 0),
    "nolazytime": (0, linux.MS_LAZYTIME),
    "nosymfollow": (linux.MS_NOSYMFOLLOW, 0),
    "silent": (linux.MS_SILENT, 0),
    "loud": (0, linux.MS_SILENT),
    "bind": (linux.MS_BIND, 0),
    "rbind": (linux.MS_BIND | linux.MS_REC, 0),
    "remount": (linux.MS_REMOUNT, 0),
}

_PROPAGATION_OPTIONS: dict[str, int] = {
    "private": linux.MS_PRIVATE,
    "rprivate": linux.MS_PRIVATE | linux.MS_REC,
    "slave": linux.MS_SLAVE,
    "rslave": linux.MS_SLAVE | linux.MS_REC,
    "shared": linux.MS_SHARED,
    "rshared": linux.MS_SHARED | linux.MS_REC,
    "unbindable": linux.MS_UNBINDABLE,
    "runbindable": linux.MS_UNBINDABLE | linux.MS_REC,
}

#: fstab options that are for mount(8) or the boot, not for mount(2): dropped.
_FSTAB_ONLY = frozenset({"auto", "noauto", "_netdev", "user", "nouser", "users", "owner", "group"})

#: Per-mount flags a bind remount can carry over (statvfs ST_* bit -> MS_* flag).
_ST_TO_MS = (
    (os.ST_RDONLY, linux.MS_RDONLY),
    (os.ST_NOSUID, linux.MS_NOSUID),
    (os.ST_NODEV, linux.MS_NODEV),
    (os.ST_NOEXEC, linux.MS_NOEXEC),
    (os.ST_NOATIME, linux.MS_NOATIME),
    (os.ST_NODIRATIME, linux.MS_NODIRATIME),
    (os.ST_RELATIME, linux.MS_RELATIME),
    (8192, linux.MS_NOSYMFOLLOW),  # ST_NOSYMFOLLOW, missing from Python 3.11's os
)

#: Flags that only a remount of the mount itself can change (not mount(2) data).
_PER_MOUNT = (
    linux.MS_RDONLY
    | linux.MS_NOSUID
    | linux.MS_NODEV
    | linux.MS_NOEXEC
    | linux.MS_NOATIME
    | linux.MS_NODIRATIME
    | linux.MS_RELATIME
    | linux.MS_STRICTATIME
    | linux.MS_NOSYMFOLLOW
)

_PSEUDO = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


class MountOptions:
    """The options field of an fstab line, split into what goes where.

    flags/clear: MS_* flags set and cleared; propagation: MS_SHARED etc. applied
    after the mount; data: the filesystem's own options (mount(2)'s data);
    optional, create ("dir" / "file" / None), relative: LXC's own options.
    """

    __slots__ = ("flags", "clear", "propagation", "data", "optional", "create", "relative")

    def __init__(self) -> None:
        self.flags = 0
        self.clear = 0
        self.propagation: list[int] = []
        self.data: list[str] = []
        self.optional = False
        self.create: str | None = None
        self.relative = False

    @property
    def bind(self) -> bool:
        return bool(self.flags & linux.MS_BIND)

    @property
    def data_text(self) -> str | None:
        return ",".join(self.data) or None


def parse_options(text: str) -> MountOptions:
    """Split an fstab options field (`ro,bind,create=dir,size=10m`)."""
    opts = MountOptions()
    for option in text.split(","):
        option = option.strip()
        if not option:
            continue
        if option in _FLAG_OPTIONS:
            set_flags, clear_flags = _FLAG_OPTIONS[option]
            opts.flags = (opts.flags | set_flags) & ~clear_flags
            opts.clear = (opts.clear | clear_flags) & ~set_flags
        elif option in _PROPAGATION_OPTIONS:
            opts.propagation.append(_PROPAGATION_OPTIONS[option])
        elif option in ("optional", "nofail"):
            opts.optional = True
        elif option.startswith("create="):
            kind = option[len("create=") :]
            if kind not in ("dir", "file"):
                raise ValueError(f"invalid option '{option}' (create=dir or create=file)")
            opts.create = kind
        elif option == "relative":
            opts.relative = True
        elif option in _FSTAB_ONLY or option.startswith(("x-", "comment=")):
            continue
        else:
            opts.data.append(option)
    return opts


class MountContext:
    """Where the container's root is while it is being set up.

    root_fd: an O_PATH fd of the new root (the rootfs mount, or the host's root).
    root_path: its host path. rootfs_path: lxc.rootfs.path without `dir:`, or None.
    own_root: True when there is a rootfs to pivot into (else the host's root).
    mounted: normalized targets mounted by fstab/entries (so /dev/shm is not doubled).
    """

    __slots__ = ("root_fd", "root_path", "rootfs_path", "own_root", "mounted", "trees")

    def __init__(
        self, root_fd: int, root_path: str, rootfs_path: str | None, own_root: bool
    ) -> None:
        self.root_fd = root_fd
        self.root_path = root_path
        self.rootfs_path = rootfs_path
        self.own_root = own_root
        self.mounted: set[str] = set()
        #: The host directories the container can change (runtime.storage.spec.
        #: container_trees) and the lxcpath (the other containers'): a bind source
        #: beneath them is opened through no symlink (`bind_source`).
        self.trees: tuple[str, ...] = ()

    def _root_prefix(self, path: str) -> str | None:
        """The host spelling of the root that the absolute `path` starts with, if any."""
        if path.startswith("/"):
            for prefix in (self.rootfs_path, self.root_path):
                if not prefix or prefix == "/":
                    continue
                base = prefix.rstrip("/")
                if path == base or path.startswith(base + "/"):
                    return base
        return None

    def in_root(self, path: str) -> bool:
        """Whether the host path `path` is spelled inside the container's root."""
        return self.own_root and self._root_prefix(path) is not None

    def relative_target(self, target: str) -> str:
        """`target` as a path relative to the root (absolute targets stay inside it)."""
        base = self._root_prefix(target)
        if base is not None:
            target = target[len(base) :]
        return "/".join(resolve.components(target))

    def open(self, target: str, directory: bool = False) -> int:
        return resolve.open_in_root(self.root_fd, target, directory)

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1


# -- small mount helpers ---------------------------------------------------------------


def current_flags(path: str) -> int:
    """The per-mount MS_* flags of the mount at `path` (statvfs)."""
    f_flag = os.statvfs(path).f_flag
    flags = 0
    for st_bit, ms_bit in _ST_TO_MS:
        if f_flag & st_bit:
            flags |= ms_bit
    return flags


def remount_bind(path: str, set_flags: int, clear_flags: int = 0) -> None:
    """Change per-mount flags of the mount at `path`, keeping the others it has."""
    flags = (current_flags(path) | (set_flags & _PER_MOUNT)) & ~(clear_flags & _PER_MOUNT)
    if flags & linux.MS_STRICTATIME:
        flags &= ~(linux.MS_RELATIME | linux.MS_NOATIME)
    linux.mount(None, path, None, linux.MS_REMOUNT | linux.MS_BIND | flags)


def _remount_target(ctx: MountContext, target: str, set_flags: int, clear: int = 0) -> None:
    """Look `target` up again (it is a new mount now) and remount it with the flags."""
    fd = ctx.open(target)
    try:
        remount_bind(resolve.fd_path(fd), set_flags, clear)
    finally:
        os.close(fd)


def _bind_over_itself(ctx: MountContext, target: str, set_flags: int, clear: int = 0) -> None:
    """Make `target` its own mount (bind onto itself) and set flags on it."""
    fd = ctx.open(target)
    try:
        path = resolve.fd_path(fd)
        linux.mount(path, path, None, linux.MS_BIND)
    finally:
        os.close(fd)
    _remount_target(ctx, target, set_flags, clear)


def ensure_mountpoint(
    ctx: MountContext, target: str, key: str, *, refuse_symlink: bool = False
) -> int:
    """An O_PATH fd of directory `target` in the root, created (0755) if missing.

    With `refuse_symlink` a target that is itself a symlink is an error, as in LXC:
    the rootfs's own /proc or /sys pointing elsewhere would put the kernel's files
    where the container's image decides (LXC's lxc-test-symlink, test 4).
    """
    if refuse_symlink:
        try:
            info = os.stat(target, dir_fd=ctx.root_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise SetupError(key, f"mountpoint /{target}: {describe_os_error(err)}") from None
        else:
            if stat.S_ISLNK(info.st_mode):
                raise SetupError(key, f"/{target} in the rootfs is a symlink: refusing to mount on it")
    try:
        return ctx.open(target, directory=True)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise SetupError(key, f"mountpoint /{target}: {describe_os_error(err)}") from None
    try:
        return resolve.make_dirs(ctx.root_fd, target)
    except OSError as err:
        raise SetupError(
            key,
            f"/{target} is missing in the rootfs and cannot be created: {describe_os_error(err)}",
        ) from None


# -- the namespace and the rootfs ------------------------------------------------------


def make_private() -> None:
    """Stop mount events from leaving the new mount namespace (recursive slave)."""
    try:
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)
    except OSError as err:
        raise SetupError(
            None, f"cannot make the mount namespace private: {describe_os_error(err)}"
        ) from None


def rootfs_directory(value: str | None) -> str | None:
    """The directory of an lxc.rootfs.path value: a dir rootfs's own, or where an
    overlay or loop one is mounted (runtime.storage.spec)."""
    if not value:
        return None
    try:
        spec = rootfs_spec.parse(value)
    except ValueError as err:
        raise SetupError("lxc.rootfs.path", str(err)) from None
    if spec.kind in rootfs_spec.REFUSED_KINDS:
        raise SetupError(
            "lxc.rootfs.path", f"storage type '{spec.kind}' is not supported (dir, overlay, loop)"
        )
    return rootfs_spec.mountpoint(spec)


def setup_root(
    config: ContainerConfig, host_root: str, idmapped_tree: int | None = None, lxcpath: str | None = None
) -> MountContext:
    """Bind the rootfs where it will be pivoted into; or use the host's root.

    `idmapped_tree`: the daemon's idmapped clone of the rootfs (lxc.rootfs.options
    idmap=, `runtime.userns.idmapped`), attached on the working directory instead.
    """
    ctx = _root_context(config, host_root, idmapped_tree)
    trees = rootfs_spec.container_trees(config.rootfs_path, config.rootfs_mount)
    ctx.trees = (*trees, lxcpath) if lxcpath else trees
    return ctx


def _root_context(config: ContainerConfig, host_root: str, idmapped_tree: int | None) -> MountContext:
    path = rootfs_directory(config.rootfs_path)
    key = "lxc.rootfs.path"
    if idmapped_tree is not None and path is not None:
        return _attach_idmapped(idmapped_tree, path)
    if path is None and os.path.realpath(host_root) != "/":
        path, key = host_root, "host root"
    if path is None:
        fd = os.open(host_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return MountContext(fd, "/", None, own_root=False)
    if not path.startswith("/"):
        raise SetupError(key, f"'{path}' is not an absolute path")
    if config.rootfs_path and rootfs_spec.parse(config.rootfs_path).kind in rootfs_spec.MOUNTED_KINDS:
        return _mount_store(config, path)
    if not os.path.isdir(path):
        reason = "is not a directory" if os.path.lexists(path) else "does not exist"
        raise SetupError(key, f"'{path}' {reason}")
    target = config.rootfs_mount or path
    if not os.path.isdir(target):
        raise SetupError("lxc.rootfs.mount", f"'{target}' is not a directory")
    try:
        linux.mount(path, target, None, linux.MS_BIND | linux.MS_REC)
        fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise SetupError(
            key, f"cannot bind-mount '{path}' on '{target}': {describe_os_error(err)}"
        ) from None
    return MountContext(fd, target, path, own_root=True)


def _mount_store(config: ContainerConfig, path: str) -> MountContext:
    """An overlay or loop rootfs: mounted by runtime.storage.childmount."""
    target = config.rootfs_mount or path
    store = rootfs_spec.parse(config.rootfs_path or "")
    if config.idmap and store.kind == "loop":
        raise SetupError("lxc.rootfs.path", "a loop rootfs cannot be mounted with lxc.idmap")
    try:
        childmount.mount_rootfs(store, target)
        fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise SetupError(
            "lxc.rootfs.path", f"cannot mount '{config.rootfs_path}' on '{target}': "
            f"{err.strerror or describe_os_error(err)}",
        ) from None
    return MountContext(fd, target, path, own_root=True)


def _attach_idmapped(tree: int, path: str) -> MountContext:
    try:
        idmapped.attach_here(tree)
    except OSError as err:
        os.close(tree)
        raise SetupError(
            "lxc.rootfs.options", f"cannot attach the idmapped '{path}': {describe_os_error(err)}"
        ) from None
    return MountContext(tree, resolve.fd_path(tree), path, own_root=True)


def apply_rootfs_options(ctx: MountContext, config: ContainerConfig) -> None:
    """lxc.rootfs.options on the rootfs mount (ro, nosuid, ..., propagation)."""
    if not ctx.own_root or not config.rootfs_options:
        return
    key = "lxc.rootfs.options"
    try:
        idmap, others = idmapped.split_options(config.rootfs_options)
        if idmap and not config.idmap:
            raise ValueError(f"idmap={idmap} needs lxc.idmap (a user namespace to map through)")
        opts = parse_options(others)
    except ValueError as err:
        raise SetupError(key, str(err)) from None
    if opts.data:
        raise SetupError(key, f"unsupported option(s) for a directory rootfs: {opts.data_text}")
    try:
        if (opts.flags | opts.clear) & _PER_MOUNT:
            remount_bind(ctx.root_path, opts.flags, opts.clear)
        for propagation in opts.propagation:
            linux.mount(None, ctx.root_path, None, propagation)
    except OSError as err:
        raise SetupError(
            key, f"cannot apply '{config.rootfs_options}': {describe_os_error(err)}"
        ) from None


def pivot(ctx: MountContext) -> None:
    """pivot_root into the rootfs and detach the old root (nothing of the host stays).

    `pivot_root(".", ".")` stacks the old root on the new one, so no put_old
    directory is needed in the rootfs; the old root is made slave first so that
    detaching it cannot propagate to the host.
    """
    if not ctx.own_root:
        os.chdir("/")
        return
    try:
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new_root = os.open(
            resolve.fd_path(ctx.root_fd), os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC
        )
        try:
            os.fchdir(new_root)
            linux.pivot_root(".", ".")
            start_trace.mark("pivot_root")
            os.fchdir(old_root)
            linux.mount(None, ".", None, linux.MS_REC | linux.MS_SLAVE)
            linux.umount2(".", linux.MNT_DETACH)
            start_trace.mark("old root detached")
            os.fchdir(new_root)
        finally:
            os.close(old_root)
            os.close(new_root)
        os.chdir("/")
    except OSError as err:
        raise SetupError(
            "lxc.rootfs.path", f"cannot pivot_root into '{ctx.root_path}': {describe_os_error(err)}"
        ) from None
    ctx.close()


# -- lxc.mount.auto: proc and sys --------------------------------------------------------


def auto_modes(tokens: list[str]) -> dict[str, str]:
    """lxc.mount.auto tokens -> {"proc": mode, "sys": mode, "cgroup": token}; last wins."""
    modes: dict[str, str] = {}
    for token in tokens:
        kind, _, mode = token.partition(":")
        if kind == "proc":
            modes["proc"] = mode or "mixed"
        elif kind == "sys":
            modes["sys"] = mode or "mixed"
        elif kind in ("cgroup", "cgroup-full", "cgroup2"):
            modes["cgroup"] = token
        elif kind == "shmounts":
            raise SetupError("lxc.mount.auto", "shmounts is not supported yet")
    return modes


def mount_proc(ctx: MountContext, mode: str, own_net: bool, key: str = "lxc.mount.auto") -> None:
    """A procfs of the container's pid namespace on /proc (proc:rw or proc:mixed)."""
    fd = ensure_mountpoint(ctx, "proc", key, refuse_symlink=True)
    try:
        linux.mount("proc", resolve.fd_path(fd), "proc", _PSEUDO)
    except OSError as err:
        raise SetupError(key, f"cannot mount proc on /proc: {describe_os_error(err)}") from None
    finally:
        os.close(fd)
    if mode != "mixed":
        return
    try:
        _bind_over_itself(ctx, "proc/sys", linux.MS_RDONLY | _PSEUDO)
        if own_net:
            _bind_over_itself(ctx, "proc/sys/net", _PSEUDO, linux.MS_RDONLY)
        if resolve.exists_in_root(ctx.root_fd, "proc/sysrq-trigger"):  # CONFIG_MAGIC_SYSRQ
            _bind_over_itself(ctx, "proc/sysrq-trigger", linux.MS_RDONLY | _PSEUDO)
    except OSError as err:
        raise SetupError(
            key, f"proc:mixed: cannot protect /proc/sys: {describe_os_error(err)}"
        ) from None


def mount_sys(ctx: MountContext, mode: str, key: str = "lxc.mount.auto") -> None:
    """sysfs on /sys: sys:rw, sys:ro, or sys:mixed (read-only but devices/virtual/net)."""
    fd = ensure_mountpoint(ctx, "sys", key, refuse_symlink=True)
    try:
        linux.mount("sysfs", resolve.fd_path(fd), "sysfs", _PSEUDO)
    except OSError as err:
        raise SetupError(key, f"cannot mount sysfs on /sys: {describe_os_error(err)}") from None
    finally:
        os.close(fd)
    if mode == "rw":
        return
    try:
        if mode == "mixed" and resolve.exists_in_root(ctx.root_fd, "sys/devices/virtual/net"):
            _bind_over_itself(ctx, "sys/devices/virtual/net", _PSEUDO, linux.MS_RDONLY)
        _remount_target(ctx, "sys", linux.MS_RDONLY | _PSEUDO)
    except OSError as err:
        raise SetupError(
            key, f"sys:{mode}: cannot make /sys read-only: {describe_os_error(err)}"
        ) from None


# -- lxc.mount.fstab and lxc.mount.entry ----------------------------------------------


def read_fstab(config: ContainerConfig, base_dir: str) -> list[MountEntry]:
    """The entries of lxc.mount.fstab (a relative path is relative to `base_dir`)."""
    path = config.mount_fstab
    if not path:
        return []
    if not path.startswith("/"):
        path = os.path.join(base_dir, path)
    key = "lxc.mount.fstab"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError as err:
        raise SetupError(key, f"cannot read '{path}': {describe_os_error(err)}") from None
    entries = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            entries.append(structure(parse_fstab_line(text), MountEntry))
        except ValueError as err:
            raise SetupError(key, f"{path}:{number}: {err}") from None
    return entries


def _is_block_device(source: str) -> bool:
    try:
        return source.startswith("/") and stat.S_ISBLK(os.stat(source).st_mode)
    except OSError:
        return False


def mount_entry(ctx: MountContext, entry: MountEntry, opts: MountOptions) -> None:
    """One fstab line (lxc.mount.fstab or lxc.mount.entry), target inside the root."""
    target = ctx.relative_target(entry.target)
    if opts.create == "dir":
        fd = resolve.make_dirs(ctx.root_fd, target)
    elif opts.create == "file":
        fd = resolve.make_file(ctx.root_fd, target)
    else:
        fd = ctx.open(target)
    source_fd = -1
    try:
        source = entry.source
        if opts.relative:
            source_fd = ctx.open(ctx.relative_target(source))
            source = resolve.fd_path(source_fd)
        elif opts.bind and source.startswith("/"):
            source_fd = bind_source(ctx, source)
            source = resolve.fd_path(source_fd)
        dest = resolve.fd_path(fd)
        if opts.bind:
            linux.mount(source, dest, None, opts.flags & (linux.MS_BIND | linux.MS_REC))
            needs_remount = bool((opts.flags | opts.clear) & _PER_MOUNT)
        else:
            flags = opts.flags & ~linux.MS_REMOUNT
            direct_ro = _is_block_device(source)
            mount_flags = flags if direct_ro else flags & ~linux.MS_RDONLY
            linux.mount(source, dest, entry.fstype, mount_flags, opts.data_text)
            needs_remount = bool(flags & linux.MS_RDONLY) and not direct_ro
    finally:
        os.close(fd)
        if source_fd >= 0:
            os.close(source_fd)
    if needs_remount:
        _remount_target(ctx, target, opts.flags, opts.clear)
    for propagation in opts.propagation:
        fd = ctx.open(target)
        try:
            linux.mount(None, resolve.fd_path(fd), None, propagation)
        finally:
            os.close(fd)
    ctx.mounted.add(target)


def bind_source(ctx: MountContext, source: str) -> int:
    """An O_PATH fd of a bind source given as a host path.

    Spelled inside the container's root, it is resolved inside it, as a `relative`
    one (its symlinks are the container's: `lib -> usr/lib` works as the container
    sees it, and `srv/data -> /etc` stays in the root; LXC follows them on the host,
    and bound the host's /etc in, read-write). Elsewhere, beneath another tree the
    container can change (an overlay's directories) or the lxcpath (the other
    containers'), however the path is spelled, no symlink is followed
    (`runtime.storage.hostfiles`, as for the console files); the host's own paths
    are resolved as given. `..` is taken lexically first (`<rootfs>/../shared` is the
    host's `shared`, as before)."""
    path = "/" + os.path.normpath(source).lstrip("/")
    if ctx.in_root(path):
        return ctx.open(ctx.relative_target(path))
    if path == "/":
        return os.open("/", os.O_PATH | os.O_CLOEXEC)
    return hostfiles.open_source(path, ctx.trees)


def mount_entries(ctx: MountContext, entries: list[MountEntry], key: str) -> None:
    """Mount each entry in order; `optional` ones that fail are skipped (as LXC does)."""
    for entry in entries:
        try:
            opts = parse_options(entry.options)
        except ValueError as err:
            raise SetupError(key, f"'{entry.target}': {err}") from None
        try:
            mount_entry(ctx, entry, opts)
        except OSError as err:
            if opts.optional:
                continue
            raise SetupError(
                key,
                f"cannot mount '{entry.source}' on '{entry.target}' ({entry.fstype}): "
                f"{describe_os_error(err)}",
            ) from None
