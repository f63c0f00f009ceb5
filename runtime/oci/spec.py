"""A bundle's config.json -> the LXC config the daemon starts, and the rest.

`translate(bundle, name)` reads `<bundle>/config.json` and returns a `Translation`:
`config_text` (LXC keys, written to `<root>/<id>/config`), `argv` (passed in the
start request: LXC's `lxc.init.cmd` would split it on blanks), and what only the
OCI command acts on (terminal, console size, poststart/poststop hooks).

Mapped (OCI field -> LXC key):
- root.path -> lxc.rootfs.path (relative to the bundle); root.readonly and
  linux.rootfsPropagation -> lxc.rootfs.options.
- mounts: /proc (proc) -> lxc.mount.auto proc:rw; /sys (sysfs) -> sys:ro/rw;
  /sys/fs/cgroup (cgroup, cgroup2) -> cgroup:ro/rw; /dev (tmpfs) -> lxc.autodev
  (+ lxc.autodev.tmpfs.size); /dev/pts (devpts, newinstance) -> the runtime's own
  devpts instance; every other mount -> lxc.mount.entry in order (type `bind` or
  a bind/rbind option is a bind mount, created as a directory or file after its
  source), options passed through (propagation included).
- maskedPaths -> /dev/null bound over a file, a read-only tmpfs over a directory;
  readonlyPaths -> bound read-only over themselves (missing paths are skipped, as
  runc skips them).
- process.args -> the start's argv; env -> lxc.environment; cwd -> lxc.init.cwd;
  user.uid/gid/additionalGids -> lxc.init.uid/gid/groups; capabilities.bounding
  -> lxc.cap.keep; rlimits -> lxc.prlimit.*; noNewPrivileges -> lxc.no_new_privs;
  oomScoreAdj -> lxc.proc.oom_score_adj; apparmorProfile -> lxc.apparmor.profile;
  selinuxLabel -> lxc.selinux.context (both warned where the LSM is off, refused
  where it is on, as for any LXC container); terminal/consoleSize: the OCI command.
- hostname -> lxc.uts.name (without one, a new UTS namespace keeps the host's
  name, as under runc).
- linux.namespaces -> lxc.namespace.clone/keep, a `path` -> lxc.namespace.share.*;
  uidMappings/gidMappings -> lxc.idmap; timeOffsets -> lxc.time.offset.*;
  sysctl -> lxc.sysctl.*; resources -> lxc.cgroup(2).* (runtime.oci.cgroup_keys);
  cgroupsPath -> lxc.cgroup.dir.container; devices: the standard nodes only.
- linux.seccomp -> an LXC profile named by lxc.seccomp.profile (runtime.oci.seccomp).
- hooks.prestart/createRuntime: `lxc.hook.start-host` runs `trio-lxc-oci run-hooks`
  (cli/oci_create.py), on the host once the namespaces and mounts are set up and
  before the program (after pivot_root, where runc runs them just before it); a
  failing hook fails `create`. poststart/poststop: run by the OCI command. All
  get the state JSON on stdin.

Refused, naming the field: process.capabilities sets other than bounding (equal
effective/permitted for root), ambient/inheritable, capabilities of a non-root
user, process.ioPriority/scheduler/execCPUAffinity/user.umask other than 0022,
hooks createContainer/startContainer, seccomp actions
and flags runtime.oci.seccomp lists,
linux.devices beyond the standard nodes, linux.personality/intelRdt/
memoryPolicy/mountLabel, domainname, a systemd cgroupsPath (`slice:prefix:name`),
and any field this module does not know.
"""

from __future__ import annotations

import os
import socket
import stat

from runtime.config.values import CAPABILITIES, PRLIMIT_RESOURCES
from runtime.oci import bundle_files, exec_creds
from runtime.oci.cgroup_keys import Resources
from runtime.oci.errors import SpecError, unsupported
from runtime.oci.node import Node
from runtime.oci.seccomp import profile_text

#: OCI namespace type -> LXC's name.
NAMESPACES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}  # fmt: skip
#: The namespaces an LXC system container gets by default (namespaces.SYSTEM_DEFAULT).
_LXC_DEFAULT = ("uts", "ipc", "pid", "mnt", "net", "cgroup")
#: The device nodes the runtime's /dev has anyway (runtime.spawn.devices.NODES), and ptmx.
STANDARD_DEVICES = {
    "/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7), "/dev/random": (1, 8),
    "/dev/urandom": (1, 9), "/dev/tty": (5, 0), "/dev/ptmx": (5, 2),
}  # fmt: skip
_PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")


class Hook:
    """One OCI hook: path, args, env, timeout (seconds)."""

    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, path: str, args: list[str], env: list[str], timeout: int | None) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "args": self.args, "env": self.env, "timeout": self.timeout}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Hook:
        """A hook as `to_json` wrote it (kept in the container's directory)."""
        timeout = data.get("timeout")
        return cls(
            str(data["path"]),
            _strings(data.get("args")),
            _strings(data.get("env")),
            timeout if isinstance(timeout, int) else None,
        )


class Translation:
    """What one config.json becomes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.argv: list[str] = []
        self.terminal = False
        self.console_size: tuple[int, int] | None = None
        self.rootfs = ""
        self.oci_version = ""
        self.annotations: dict[str, str] = {}
        self.hooks: dict[str, list[Hook]] = {}
        #: linux.seccomp as an LXC profile (runtime.oci.seccomp), or None.
        self.seccomp: str | None = None
        #: The process's user, env, cwd, no_new_privs (runtime.oci.exec_defaults).
        self.process: dict[str, object] = {}
        #: The host uid the init has when it passes the exec FIFO (uid through the idmap).
        self.init_host_uid = 0

    def add(self, key: str, value: object) -> None:
        text = str(value)
        if "\n" in text:
            raise SpecError(key, "a value must not contain a newline")
        self.lines.append(f"{key} = {text}")

    @property
    def config_text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def load(bundle: str) -> Node:
    """config.json of the bundle; SpecError when it cannot be read (runtime.oci.bundle_files)."""
    return Node(bundle_files.load_json(os.path.join(bundle, "config.json"), "config.json"), "")


def translate(bundle: str, name: str, resources: Resources | None = None) -> Translation:
    """The translation of `<bundle>/config.json` for container `name`."""
    return translate_node(load(bundle), bundle, name, resources)


def translate_node(root: Node, bundle: str, name: str, resources: Resources | None = None) -> Translation:
    root.fields(
        ("ociVersion", "root", "mounts", "process", "hostname", "hooks", "annotations", "linux"),
        refused=("domainname", "solaris", "windows", "vm", "zos"),
    )
    out = Translation()
    out.oci_version = root.get_str("ociVersion") or ""
    if not out.oci_version.startswith("1."):
        raise SpecError("ociVersion", f"'{out.oci_version}' is not a 1.x runtime spec version")
    annotations = root.get("annotations")
    if annotations is not None:
        out.annotations = {k: Node(v, f"annotations.{k}").text() for k, v in annotations.members().items()}
    linux = root.get("linux") or Node({}, "linux")
    linux.fields(
        (
            "namespaces", "uidMappings", "gidMappings", "timeOffsets", "sysctl", "resources",
            "cgroupsPath", "devices", "rootfsPropagation", "maskedPaths", "readonlyPaths", "seccomp",
        ),
        refused=("personality", "intelRdt", "memoryPolicy", "mountLabel"),
    )  # fmt: skip
    out.add("lxc.console.path", "none")
    out.add("lxc.tty.max", 0)
    new_ns = _namespaces(out, linux)
    _root(out, root, linux, bundle)
    if "uts" in new_ns:
        hostname = root.get_str("hostname")
        out.add("lxc.uts.name", hostname or socket.gethostname())
    elif root.get_str("hostname"):
        raise SpecError("hostname", "needs a new uts namespace")
    _mounts(out, root.get("mounts"))
    _masked_and_readonly(out, linux)
    _process(out, root.get("process"))
    _id_maps(out, linux, "user" in new_ns)
    out.init_host_uid = _host_uid(linux, out.process.get("uid"), "user" in new_ns)
    _linux_rest(out, linux, resources)
    _hooks(out, root.get("hooks"))
    return out


def _namespaces(out: Translation, linux: Node) -> set[str]:
    new: set[str] = set()
    shared: set[str] = set()
    listed = linux.get("namespaces")
    for item in listed.items() if listed is not None else []:
        item.fields(("type", "path"))
        kind = item.get_str("type") or ""
        lxc_name = NAMESPACES.get(kind)
        if lxc_name is None:
            raise SpecError(f"{item.path}.type", f"unknown namespace type '{kind}'")
        if lxc_name in new or lxc_name in shared:
            raise SpecError(f"{item.path}.type", f"namespace '{kind}' listed twice")
        path = item.get_str("path")
        if path:
            if not path.startswith("/"):
                raise SpecError(f"{item.path}.path", "must be an absolute path")
            out.add(f"lxc.namespace.share.{lxc_name}", path)
            shared.add(lxc_name)
        else:
            new.add(lxc_name)
    if new:
        out.add("lxc.namespace.clone", " ".join(sorted(new)))
    keep = sorted(set(_LXC_DEFAULT) - new - shared)
    if keep:
        out.add("lxc.namespace.keep", " ".join(keep))
    if "net" in new:
        out.add("lxc.net.0.type", "empty")  # only lo, as under runc
    else:
        out.add("lxc.net.0.type", "none")
    return new


def _root(out: Translation, root: Node, linux: Node, bundle: str) -> None:
    node = root.get("root")
    if node is None:
        raise SpecError("root", "is required")
    node.fields(("path", "readonly"))
    path = node.get_str("path") or ""
    if not path:
        raise SpecError("root.path", "is required")
    path = bundle_files.rootfs_path(bundle, path)
    if any(c.isspace() for c in path):
        raise SpecError("root.path", "a path with blanks is not supported")
    out.rootfs = path
    out.add("lxc.rootfs.path", path)
    options = []
    if node.get_bool("readonly"):
        options.append("ro")
    propagation = linux.get_str("rootfsPropagation")
    if propagation:
        if propagation not in _PROPAGATIONS:
            raise SpecError("linux.rootfsPropagation", f"'{propagation}' is not a propagation type")
        options.append(propagation)
    if options:
        out.add("lxc.rootfs.options", ",".join(options))


def _size_bytes(text: str, field: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    number, unit = (text[:-1], units.get(text[-1].lower())) if text and not text[-1].isdigit() else (text, 1)
    if unit is None or not number.isdigit():
        raise SpecError(field, f"size '{text}' is not a number of bytes (k, m, g)")
    return int(number) * unit


def _mount_path(text: str, field: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise SpecError(field, f"'{text}': an empty path or one with blanks is not supported")
    return text


def _mounts(out: Translation, node: Node | None) -> None:
    auto: list[str] = []
    autodev = False
    for item in node.items() if node is not None else []:
        item.fields(("destination", "type", "source", "options"), refused=("uidMappings", "gidMappings"))
        dest = os.path.normpath(_mount_path(item.get_str("destination") or "", f"{item.path}.destination"))
        if not dest.startswith("/") or not dest.strip("/"):
            raise SpecError(f"{item.path}.destination", "must be an absolute path below /")
        kind = item.get_str("type") or ""
        source = item.get_str("source") or ""
        options_node = item.get("options")
        options = options_node.strings() if options_node is not None else []
        writable = "ro" not in options
        if dest == "/proc" and kind == "proc":
            auto.append("proc:rw")
        elif dest == "/sys" and kind == "sysfs":
            auto.append("sys:rw" if writable else "sys:ro")
        elif dest == "/sys/fs/cgroup" and kind in ("cgroup", "cgroup2"):
            auto.append("cgroup:rw" if writable else "cgroup:ro")
        elif dest == "/dev" and kind == "tmpfs":
            autodev = True
            for option in options:
                if option.startswith("size="):
                    out.add("lxc.autodev.tmpfs.size", _size_bytes(option[5:], f"{item.path}.options"))
                elif option not in ("nosuid", "strictatime", "mode=755", "noexec", "rw"):
                    raise SpecError(f"{item.path}.options", f"'{option}' on /dev is not supported")
        elif dest == "/dev/pts" and kind == "devpts":
            for option in options:
                if option not in ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", "rw"):
                    raise SpecError(f"{item.path}.options", f"'{option}' on /dev/pts is not supported")
        else:
            out.add("lxc.mount.entry", _entry(item, dest, kind, source, options))
    out.add("lxc.autodev", 1 if autodev else 0)
    if auto:
        out.add("lxc.mount.auto", " ".join(auto))


def _entry(item: Node, dest: str, kind: str, source: str, options: list[str]) -> str:
    bind = kind == "bind" or "bind" in options or "rbind" in options
    opts = [o for o in options if o]
    for option in opts:
        if "," in option or any(c.isspace() for c in option):
            raise SpecError(f"{item.path}.options", f"'{option}' is not a single mount option")
        if option in ("optional", "relative") or option.startswith("create="):
            raise SpecError(f"{item.path}.options", f"'{option}' is not an OCI mount option")
    if bind:
        source_path = _mount_path(source, f"{item.path}.source")
        if not source_path.startswith("/"):
            raise SpecError(f"{item.path}.source", "a bind source must be an absolute path")
        if not os.path.exists(source_path):
            raise SpecError(f"{item.path}.source", f"'{source_path}' does not exist")
        if "bind" not in opts and "rbind" not in opts:
            opts.append("bind")
        opts.append("create=dir" if os.path.isdir(source_path) else "create=file")
        fstype = "none"
    else:
        source_path = _mount_path(source or kind, f"{item.path}.source")
        fstype = _mount_path(kind, f"{item.path}.type")
        opts.append("create=dir")
    return f"{source_path} {dest.lstrip('/')} {fstype} {','.join(opts)} 0 0"


def _masked_and_readonly(out: Translation, linux: Node) -> None:
    for key in ("maskedPaths", "readonlyPaths"):
        listed = linux.get(key)
        for item in listed.items() if listed is not None else []:
            path = os.path.normpath(_mount_path(item.text(), item.path))
            if not path.startswith("/") or path == "/":
                raise SpecError(item.path, "must be an absolute path below /")
            target = path.lstrip("/")
            if key == "readonlyPaths":
                out.add("lxc.mount.entry", f"{target} {target} none bind,ro,relative,optional 0 0")
            elif _is_directory(path, out.rootfs):
                out.add("lxc.mount.entry", f"tmpfs {target} tmpfs ro,optional 0 0")
            else:
                out.add("lxc.mount.entry", f"/dev/null {target} none bind,optional 0 0")


def _is_directory(path: str, rootfs: str) -> bool:
    """proc and sys are the kernel's: the host's own tell; anything else is in the rootfs."""
    if path.startswith(("/proc/", "/sys/")):
        return os.path.isdir(path)
    try:
        return stat.S_ISDIR(os.lstat(os.path.join(rootfs, path.lstrip("/"))).st_mode)
    except OSError:
        return False


def _process(out: Translation, node: Node | None) -> None:
    if node is None:
        raise SpecError("process", "is required")
    node.fields(
        (
            "terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
            "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "selinuxLabel",
        ),
        refused=("commandLine", "ioPriority", "scheduler", "execCPUAffinity"),
    )  # fmt: skip
    args = node.get("args")
    out.argv = args.strings() if args is not None else []
    if not out.argv:
        raise SpecError("process.args", "must name the program to run")
    out.terminal = node.get_bool("terminal")
    size = node.get("consoleSize")
    if size is not None:
        size.fields(("height", "width"))
        out.console_size = (_window(size, "height"), _window(size, "width"))
    env = node.get("env")
    env_list = []
    for item in env.items() if env is not None else []:
        text = item.text()
        if "=" not in text:
            raise SpecError(item.path, f"'{text}' is not NAME=VALUE")
        out.add("lxc.environment", text)
        env_list.append(text)
    cwd = node.get_str("cwd") or "/"
    if not cwd.startswith("/"):
        raise SpecError("process.cwd", "must be an absolute path")
    out.add("lxc.init.cwd", cwd)
    uid = _user(out, node.get("user"))
    out.process.update(env=env_list, cwd=cwd, noNewPrivileges=node.get_bool("noNewPrivileges"))
    _capabilities(out, node.get("capabilities"), uid)
    rlimits = node.get("rlimits")
    for item in rlimits.items() if rlimits is not None else []:
        item.fields(("type", "soft", "hard"))
        kind = item.get_str("type") or ""
        name = kind.removeprefix("RLIMIT_").lower()
        if not kind.startswith("RLIMIT_") or name not in PRLIMIT_RESOURCES:
            raise SpecError(f"{item.path}.type", f"unknown resource limit '{kind}'")
        soft, hard = item.get_int("soft"), item.get_int("hard")
        out.add(f"lxc.prlimit.{name}", f"{_limit(soft)}:{_limit(hard)}")
    if node.get_bool("noNewPrivileges"):
        out.add("lxc.no_new_privs", 1)
    oom = node.get_int("oomScoreAdj")
    if oom is not None:
        out.add("lxc.proc.oom_score_adj", oom)
    profile = node.get_str("apparmorProfile")
    if profile:
        out.add("lxc.apparmor.profile", profile)
    label = node.get_str("selinuxLabel")
    if label:
        out.add("lxc.selinux.context", label)


def _window(node: Node, key: str) -> int:
    value = node.get_int(key) or 0
    if not 0 <= value <= 0xFFFF:
        raise SpecError(f"{node.path}.{key}", f"{value} is not a terminal size (0 to 65535)")
    return value


def _checked_id(value: int | None, field: str) -> int:
    try:
        return exec_creds.check_id(value or 0, field)
    except ValueError as err:
        raise SpecError(field, str(err).partition(": ")[2]) from None


def _host_uid(linux: Node, uid: object, new_user: bool) -> int:
    """`uid` as the host sees it: through linux.uidMappings in a new user namespace."""
    inside = uid if isinstance(uid, int) else 0
    if not new_user:
        return inside
    listed = linux.get("uidMappings")
    for item in listed.items() if listed is not None else []:
        first, host, size = item.get_int("containerID") or 0, item.get_int("hostID") or 0, item.get_int("size") or 0
        if first <= inside < first + size:
            return host + inside - first
    raise SpecError("process.user.uid", f"{inside} is not mapped by linux.uidMappings")


def _limit(value: int | None) -> str:
    if value is None or value < 0 or value >= 2**64 - 1:
        return "unlimited"
    return str(value)


def _user(out: Translation, node: Node | None) -> int:
    if node is None:
        out.process.update(uid=0, gid=0, additionalGids=[])
        return 0
    node.fields(("uid", "gid", "additionalGids", "umask"), refused=("username",))
    uid = _checked_id(node.get_int("uid"), "process.user.uid")
    gid = _checked_id(node.get_int("gid"), "process.user.gid")
    umask = node.get_int("umask")
    if umask is not None and umask != 0o022:
        raise SpecError("process.user.umask", "only 0022 (the runtime's) is supported")
    out.add("lxc.init.uid", uid)
    out.add("lxc.init.gid", gid)
    groups = node.get("additionalGids")
    ids = [_checked_id(item.integer(), item.path) for item in groups.items()] if groups is not None else []
    if ids:
        out.add("lxc.init.groups", ",".join(str(i) for i in ids))
    out.process.update(uid=uid, gid=gid, additionalGids=ids)
    return uid


def _cap_names(node: Node | None) -> list[str]:
    names = []
    for item in node.items() if node is not None else []:
        text = item.text()
        name = text.removeprefix("CAP_").lower()
        if not text.startswith("CAP_") or name not in CAPABILITIES:
            raise SpecError(item.path, f"unknown capability '{text}'")
        names.append(name)
    return names


def _capabilities(out: Translation, node: Node | None, uid: int) -> None:
    if node is None:
        out.add("lxc.cap.keep", "none")
        return
    node.fields(("bounding", "effective", "permitted", "inheritable", "ambient"))
    bounding = _cap_names(node.get("bounding"))
    for key in ("effective", "permitted"):
        names = _cap_names(node.get(key))
        if uid == 0 and set(names) != set(bounding):
            raise SpecError(f"process.capabilities.{key}", "a set other than the bounding set is not supported")
        if uid != 0 and names:
            raise SpecError(f"process.capabilities.{key}", "capabilities of a non-root user are not supported")
    for key in ("inheritable", "ambient"):
        if _cap_names(node.get(key)):
            raise unsupported(f"process.capabilities.{key}")
    out.add("lxc.cap.keep", " ".join(bounding) if bounding else "none")


def _id_maps(out: Translation, linux: Node, new_user: bool) -> None:
    found = False
    for key, letter in (("uidMappings", "u"), ("gidMappings", "g")):
        listed = linux.get(key)
        for item in listed.items() if listed is not None else []:
            item.fields(("containerID", "hostID", "size"))
            inside, outside, size = item.get_int("containerID"), item.get_int("hostID"), item.get_int("size")
            if inside is None or outside is None or not size:
                raise SpecError(item.path, "needs containerID, hostID and size")
            if min(inside, outside, size) < 0 or max(inside, outside) + size > 2**32:
                raise SpecError(item.path, "ids and size must stay within 0 to 4294967295")
            out.add("lxc.idmap", f"{letter} {inside} {outside} {size}")
            found = True
    if found and not new_user:
        raise SpecError("linux.uidMappings", "needs a new user namespace in linux.namespaces")
    if new_user and not found:
        raise SpecError("linux.namespaces", "a new user namespace needs uidMappings and gidMappings")


def _linux_rest(out: Translation, linux: Node, resources: Resources | None) -> None:
    offsets = linux.get("timeOffsets")
    if offsets is not None:
        for clock, key in offsets.members().items():
            if clock not in ("boottime", "monotonic"):
                raise SpecError(f"linux.timeOffsets.{clock}", "unknown clock")
            item = Node(key, f"linux.timeOffsets.{clock}")
            item.fields(("secs", "nanosecs"))
            lxc_key = "lxc.time.offset.boot" if clock == "boottime" else "lxc.time.offset.monotonic"
            out.add(lxc_key, f"{item.get_int('secs') or 0}s")
            if item.get_int("nanosecs"):
                raise SpecError(f"linux.timeOffsets.{clock}.nanosecs", "only whole seconds are supported")
    sysctl = linux.get("sysctl")
    if sysctl is not None:
        for key, value in sysctl.members().items():
            text = Node(value, f"linux.sysctl.{key}").text()
            if not key or any(c.isspace() for c in key) or "/" in key:
                raise SpecError(f"linux.sysctl.{key}", "is not a sysctl name")
            out.add(f"lxc.sysctl.{key}", text)
    cgroups_path = linux.get_str("cgroupsPath")
    if cgroups_path:
        if ":" in cgroups_path:
            raise SpecError("linux.cgroupsPath", "the systemd form (slice:prefix:name) is not supported")
        relative = os.path.normpath(cgroups_path).strip("/")
        if not relative or ".." in relative.split("/"):
            raise SpecError("linux.cgroupsPath", f"'{cgroups_path}' is not a cgroup path")
        out.add("lxc.cgroup.dir.container", relative)
    seccomp = linux.get("seccomp")
    if seccomp is not None:
        out.seccomp = profile_text(seccomp)
    res = linux.get("resources")
    if res is not None:
        for line in (resources or Resources()).translate(res):
            out.lines.append(line)
    devices = linux.get("devices")
    for item in devices.items() if devices is not None else []:
        item.fields(("path", "type", "major", "minor", "fileMode", "uid", "gid"))
        path = item.get_str("path") or ""
        major, minor = item.get_int("major"), item.get_int("minor")
        if STANDARD_DEVICES.get(path) != (major or 0, minor or 0) or item.get_str("type") != "c":
            raise SpecError(item.path, f"device '{path}' is not supported (only the standard nodes)")


def _hooks(out: Translation, node: Node | None) -> None:
    if node is None:
        return
    node.fields(
        ("prestart", "createRuntime", "poststart", "poststop"),
        refused=("createContainer", "startContainer"),
    )
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        listed = node.get(kind)
        hooks = []
        for item in listed.items() if listed is not None else []:
            item.fields(("path", "args", "env", "timeout"))
            path = item.get_str("path") or ""
            if not path.startswith("/"):
                raise SpecError(f"{item.path}.path", "must be an absolute path")
            timeout = item.get_int("timeout")
            if timeout is not None and not 0 < timeout <= 86400:
                raise SpecError(f"{item.path}.timeout", "must be a number of seconds greater than zero")
            args, env = item.get("args"), item.get("env")
            hooks.append(
                Hook(
                    path,
                    args.strings() if args is not None else [path],
                    env.strings() if env is not None else [],
                    timeout,
                )
            )
        if hooks:
            out.hooks[kind] = hooks


def _strings(value: object) -> list[str]:
    """A JSON list as strings (anything else: none)."""
    return [str(item) for item in value] if isinstance(value, list) else []
