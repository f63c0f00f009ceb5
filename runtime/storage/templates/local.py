"""The `local` template: a container from an image's two tarballs, offline.

LXC 5's `lxc-local` (the offline half of `lxc-download`) takes `--metadata META`
(a tarball holding `config`, and optionally `fstab`, `excludes`, `templates`,
`create-message`, each possibly in `-user`/`-system` and `.5` variants) and
`--fstree ROOTFS` (the root filesystem). This is the same job in Python:

- the rootfs is unpacked with numeric owners and modes kept (set-uid bits, device
  nodes: it is a system image), skipping the `excludes` patterns;
- the config becomes LXC's layout: `# Distribution configuration` (the image's
  config), `# Container specific configuration` (the lxc.* lines the container was
  created with, then `lxc.mount.fstab` if the image has an fstab, and
  `lxc.uts.name`), `# Network configuration` (the `lxc.net.0.*` lines), so the
  creator's keys override the image's;
- `LXC_NAME`, `LXC_PATH`, `LXC_ROOTFS`, `LXC_TEMPLATE_CONFIG` and `LXC_HOOK_DIR`
  are replaced in the config, the fstab, and the rootfs files the `templates` list
  names; the `create-message` is printed.

Why not run LXC's script: an image is untrusted data, and the script's `tar` and
`sed -i` run as root on the host through whatever symlinks the image holds (a
`templates` entry `etc/hostname` in an image where `etc` links to `/etc` edits the
host's file). Here every member is checked before it is written: its path, with the
links extracted so far resolved, must stay inside the rootfs (a hard link's target
too); files named by `templates` are opened beneath the rootfs with openat2, no
symlink followed, and must be regular files. A refused image fails the create with
one line naming the member, and nothing is left.

Mode: `-user` variants are taken for a container with lxc.idmap (LXC runs the
template in the user namespace then), `-system` otherwise.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence

from runtime.client.errors import LxcError
from runtime.storage.templates.script import ConfigJob, finish_config, write_config
from runtime.storage.untar import extract_checked, renamed

COMPAT_LEVEL = 5
LXC_TEMPLATE_CONFIG = "/usr/share/lxc/config"
LXC_HOOK_DIR = "/usr/share/lxc/hooks"
#: openat2 resolve flags: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
#: (runtime.kernel.linux names them; spelled here so the module imports no ctypes until used).
_BENEATH = 0x08 | 0x04 | 0x02
USAGE = "template 'local' takes --metadata META.tar.xz --fstree ROOTFS.tar.xz"


class Options:
    def __init__(self, metadata: str, fstree: str) -> None:
        self.metadata = metadata
        self.fstree = fstree


def parse_args(args: Sequence[str]) -> Options:
    """LXC's options: -m/--metadata, -f/--fstree (both needed); LXC's internal ones
    (--name, --path, --rootfs, --mapped-uid, --mapped-gid) are accepted and unused."""
    values: dict[str, str] = {}
    internal = ("--name", "--path", "--rootfs", "--mapped-uid", "--mapped-gid")
    items = list(args)
    index = 0
    while index < len(items):
        item = items[index]
        key, _, attached = item.partition("=")
        if key in ("-m", "--metadata", "-f", "--fstree", *internal):
            if not attached:
                if index + 1 >= len(items):
                    raise LxcError(f"template 'local': option {key} needs a value ({USAGE})")
                index += 1
                attached = items[index]
            values[{"-m": "--metadata", "-f": "--fstree"}.get(key, key)] = attached
        elif item == "--":
            pass
        else:
            raise LxcError(f"template 'local': unknown option '{item}' ({USAGE})")
        index += 1
    for needed in ("--metadata", "--fstree"):
        if needed not in values:
            raise LxcError(f"template 'local': {needed} is missing ({USAGE})")
        if not os.path.isfile(values[needed]):
            raise LxcError(f"template 'local': {needed} {values[needed]}: no such file")
    return Options(values["--metadata"], values["--fstree"])


class LocalTemplate:
    """Built in as `-t local`; the store hands it a ConfigJob (it writes the config)."""

    writes_config = True
    label = "local"

    def run(self, job: ConfigJob) -> None:
        options = parse_args(job.args)
        mode = "user" if job.idmapped else "system"
        meta = tempfile.mkdtemp(prefix="trio-lxc-local.")
        umask = os.umask(0o022)  # LXC's for a create, whatever the caller's
        try:
            _unpack_metadata(options.metadata, meta)
            print("Unpacking the rootfs", flush=True)
            rootfs = os.path.join(job.staging, "rootfs")
            excludes = _lines(_relevant(meta, "excludes", mode))
            unpack_rootfs(options.fstree, rootfs, excludes)
            _make_dev_pts(rootfs)
            config_file = _relevant(meta, "config", mode)
            if not os.path.isfile(config_file):
                raise LxcError("template 'local': the metadata tarball has no configuration file")
            fstab = _relevant(meta, "fstab", mode)
            has_fstab = os.path.isfile(fstab)
            text = compose_config(job, _read(config_file), has_fstab)
            values = _substitutions(job)
            write_config(job.config, substitute(text, values))
            if has_fstab:
                write_config(os.path.join(job.staging, "fstab"), substitute(_read(fstab), values))
            for relative in _lines(_relevant(meta, "templates", mode)):
                edit_beneath(rootfs, relative, lambda data: substitute(data, values))
            edit_beneath(rootfs, "etc/init/tty.conf", lambda data: data.replace("mingetty", "mingetty --nohangup"))
            message = _relevant(meta, "create-message", mode)
            if os.path.isfile(message):
                sys.stdout.write("\n---\n" + _read(message))
                sys.stdout.flush()
        finally:
            os.umask(umask)
            shutil.rmtree(meta, ignore_errors=True)
        finish_config(job.config, self.label, job.args)


def compose_config(job: ConfigJob, distribution: str, has_fstab: bool) -> str:
    """LXC's order: the image's config, the creator's keys, the name, the network."""
    network = [(k, v) for k, v in job.lines if k.startswith("lxc.net.0.")]
    own = [(k, v) for k, v in job.lines if not k.startswith("lxc.net.0.")]
    parts = ["", "# Distribution configuration", distribution.rstrip("\n"), "", "# Container specific configuration"]
    parts += [f"{k} = {v}" for k, v in own]
    if has_fstab:
        parts.append(f"lxc.mount.fstab = {job.final_dir}/fstab")
    parts.append(f"lxc.uts.name = {job.name}")
    if network:
        parts += ["", "# Network configuration", *(f"{k} = {v}" for k, v in network)]
    return "\n".join(parts) + "\n"


def _substitutions(job: ConfigJob) -> list[tuple[str, str]]:
    """In LXC's order (LXC_NAME first, as its sed calls)."""
    return [
        ("LXC_NAME", job.name),
        ("LXC_PATH", job.final_dir),
        ("LXC_ROOTFS", job.final_rootfs),
        ("LXC_TEMPLATE_CONFIG", LXC_TEMPLATE_CONFIG),
        ("LXC_HOOK_DIR", LXC_HOOK_DIR),
    ]


def substitute(text: str, values: list[tuple[str, str]]) -> str:
    for name, value in values:
        text = text.replace(name, value)
    return text


def _relevant(meta: str, name: str, mode: str) -> str:
    """LXC's relevant_file: NAME, NAME-MODE if it exists, then that with .5 if it exists."""
    path = os.path.join(meta, name)
    if os.path.exists(f"{path}-{mode}"):
        path = f"{path}-{mode}"
    if os.path.exists(f"{path}.{COMPAT_LEVEL}"):
        path = f"{path}.{COMPAT_LEVEL}"
    return path


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def _lines(path: str) -> list[str]:
    if not os.path.isfile(path):
        return []
    return [line.strip() for line in _read(path).splitlines() if line.strip()]


def _open_tar(path: str, what: str) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise LxcError(f"template 'local': {what} {path} is not a readable tarball: {err}") from None


def _unpack_metadata(path: str, destination: str) -> None:
    """The metadata holds small text files and directories: nothing else is written
    but links that point inside (no device node, no set-uid bit, root's files), and
    nothing outside `destination`."""
    root = os.path.realpath(destination)

    def check(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = _relative_name(member)
        if name is None or not (member.isreg() or member.isdir() or member.issym()):
            raise LxcError(f"template 'local': invalid metadata tarball {path}: member '{member.name}' refused")
        target = os.path.join(root, name)
        landing = [os.path.realpath(os.path.dirname(target) if member.issym() else target)]
        if member.issym():  # a link may only point at something inside
            landing.append(os.path.realpath(os.path.join(landing[0], member.linkname)))
        if not all(_inside(place, root) for place in landing):
            raise LxcError(f"template 'local': invalid metadata tarball {path}: member '{member.name}' leaves it")
        checked = renamed(member, name=name)
        checked.mode = member.mode & (0o755 if member.isdir() or member.mode & 0o100 else 0o644)
        checked.uid = checked.gid = 0
        checked.uname = checked.gname = ""
        return checked

    with _open_tar(path, "--metadata") as archive:
        try:
            extract_checked(archive, root, check, numeric_owner=True)
        except (tarfile.TarError, OSError) as err:
            raise LxcError(f"template 'local': invalid metadata tarball {path}: {err}") from None


def _relative_name(member: tarfile.TarInfo) -> str | None:
    """The member's name made relative and normal ("." for the top), or None when it
    climbs out through `..`."""
    name = os.path.normpath(member.name.lstrip("/"))
    return None if name == ".." or name.startswith("../") else name


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    """tar --anchored --exclude=PATTERN: the member or a directory above it matches."""
    parts = name.split("/")
    for pattern in patterns:
        pattern = pattern.lstrip("/").removeprefix("./").rstrip("/")
        for depth in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:depth]), pattern):
                return True
    return False


def unpack_rootfs(path: str, rootfs: str, excludes: Sequence[str] = ()) -> None:
    """Unpack an image's root filesystem into `rootfs`, refusing any member that would
    land (or, for a hard link, point) outside it through `..` or a symlink unpacked
    before it. Owners, modes (set-uid included) and device nodes are kept."""
    root = os.path.realpath(rootfs)

    def check(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = _relative_name(member)
        if name == ".":
            return renamed(member, name=".")
        if name is None:
            raise LxcError(f"template 'local': the rootfs tarball's member '{member.name}' leaves the rootfs")
        if _excluded(name, excludes):
            return None
        target = os.path.join(root, name)
        # A symlink member replaces whatever is there; anything else is written
        # through its full path, which must resolve inside the rootfs.
        resolved = os.path.realpath(os.path.dirname(target) if member.issym() else target)
        if not _inside(resolved, root):
            raise LxcError(
                f"template 'local': the rootfs tarball's member '{member.name}' would be "
                "written outside the rootfs (through a symlink)"
            )
        if member.islnk():
            linked = os.path.realpath(os.path.join(root, member.linkname.lstrip("/")))
            if not _inside(linked, root):
                raise LxcError(
                    f"template 'local': the rootfs tarball's hard link '{member.name}' points outside the rootfs"
                )
            return renamed(member, name=name, linkname=os.path.normpath(member.linkname.lstrip("/")))
        return renamed(member, name=name)

    with _open_tar(path, "--fstree") as archive:
        try:
            extract_checked(archive, root, check, numeric_owner=True)
        except (tarfile.TarError, OSError) as err:
            raise LxcError(f"template 'local': cannot unpack {path}: {err}") from None


def _make_dev_pts(rootfs: str) -> None:
    """mkdir -p dev/pts inside the rootfs, never through a symlink."""
    from runtime.kernel import linux

    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        current = os.dup(root_fd)
        for part in ("dev", "pts"):
            try:
                os.mkdir(part, 0o755, dir_fd=current)
            except FileExistsError:
                pass
            try:
                fd = linux.openat2(current, part, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, _BENEATH)
            except OSError as err:
                os.close(current)
                raise LxcError(f"template 'local': the rootfs's {part} is not a directory: {err.strerror}") from None
            os.close(current)
            current = fd
        os.close(current)
    finally:
        os.close(root_fd)


def edit_beneath(rootfs: str, relative: str, change: Callable[[str], str]) -> bool:
    """Rewrite the regular file `relative` below `rootfs` with `change(text)`, opened
    with openat2 beneath the rootfs, no symlink followed; False when it is not there
    (LXC skips a missing one). A symlink, a path leaving the rootfs or anything but
    a regular file is refused."""
    from runtime.kernel import linux

    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            fd = linux.openat2(root_fd, relative.lstrip("/"), flags, 0, _BENEATH)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return False
            why = "a symlink on the way, or it leaves the rootfs" if err.errno in (errno.ELOOP, errno.EXDEV) else err.strerror
            raise LxcError(f"template 'local': the templates entry '{relative}' is refused: {why}") from None
    finally:
        os.close(root_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LxcError(f"template 'local': the templates entry '{relative}' is not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        before = b"".join(chunks).decode("utf-8", errors="surrogateescape")
        after = change(before)
        if after != before:
            data = after.encode("utf-8", errors="surrogateescape")
            os.ftruncate(fd, 0)
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], written)
        return True
    finally:
        os.close(fd)
