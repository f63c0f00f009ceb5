"""`lxc-checkconfig`: does this kernel have what containers need? LXC 5.0.2's report.

The report has LXC's sections, lines, wording and blank lines; items the kernel
lacks say `required` (red) when LXC needs them and `missing` (yellow) otherwise,
and colours are used only when stdout is a terminal and NO_COLOR is not set.

Where the answers come from, in LXC's order: the file named by the `CONFIG`
environment variable, else /proc/config.gz; when that is missing,
/lib/modules/$(uname -r)/build/.config and /boot/config-$(uname -r) (the latter
wins, as in LXC). A file may be plain or gzip-compressed (detected by content).
Lines that LXC takes from the live system whatever the file says stay live here
too: the cgroup namespace, cgroup mount points, the clone_children flag, the
newuidmap/newgidmap checks and the `, loaded` module suffixes.

Differences from LXC 5.0.2 (on purpose):
- The version line reads `LXC version 5.0.2 (trio-lxc 0.1.0)`.
- One extra line follows it: `Kernel config: <path>`, or, when no configuration
  file exists, `Kernel config: not found, probing the running kernel` (`<CONFIG>
  not found, probing ...` when `CONFIG` named a missing file). It
  replaces LXC's `Kernel configuration not found at ...; searching...` lines.
- With no configuration file LXC gives up (exit 1). We probe the running kernel
  instead (see `RunningKernel._probes`, one probe per CONFIG_ option, each
  saying in its docstring how it decides), which answers the same questions
  for the kernel actually booted. A probe that cannot decide (for example the
  link probes for a user who may create neither links nor namespaces) falls
  back to the kernel's module list and otherwise reports `missing`. Setting
  `TRIO_LXC_CHECKCONFIG_PROBE=1` skips the files and probes even when one exists
  (tests and curious users compare the two).
- A configuration file that exists but cannot be read is an error (exit 1), not
  a report of every option missing.
- `-q` prints nothing; `--help`/`--version` are LXC's common options (LXC's shell
  script ignores every argument).
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Mapping

from runtime.client.errors import LxcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyroute2 import IPRoute

#: Environment variable that makes us probe even when a config file exists.
PROBE_ENV = "TRIO_LXC_CHECKCONFIG_PROBE"

#: Version assumed when a configuration file has no `# Linux ... Kernel Configuration` header.
LATEST = (100, 0, 0)

Version = tuple[int, int, int]


# ---------------------------------------------------------------------------
# Where the kernel configuration is
# ---------------------------------------------------------------------------


def config_candidates(env: Mapping[str, str], release: str) -> list[str]:
    """The configuration files LXC would read, best first."""
    first = env.get("CONFIG") or "/proc/config.gz"
    return [first, f"/boot/config-{release}", f"/lib/modules/{release}/build/.config"]


def find_config(env: Mapping[str, str], release: str) -> tuple[str | None, str]:
    """Pick the configuration file (or None: probe) and the `Kernel config:` line text."""
    if env.get(PROBE_ENV, "") not in ("", "0"):
        return None, f"Kernel config: skipped ({PROBE_ENV} is set), probing the running kernel"
    for path in config_candidates(env, release):
        if os.path.isfile(path):
            return path, f"Kernel config: {path}"
    if env.get("CONFIG"):
        return None, f"Kernel config: {env['CONFIG']} not found, probing the running kernel"
    return None, "Kernel config: not found, probing the running kernel"


# ---------------------------------------------------------------------------
# A kernel configuration file
# ---------------------------------------------------------------------------

_OPTION = re.compile(r"^\s*(CONFIG_[A-Za-z0-9_]+)=([ym])\b")
_HEADER = re.compile(r"^# Linux.*Kernel Configuration")
_VERSION = re.compile(r"\s(\d+)\.(\d+)(?:\.(\d+))?")


class KernelConfig:
    """What a kernel configuration file says: options built in (=y) or as modules (=m)."""

    def __init__(self, path: str, options: frozenset[str], version: Version | None) -> None:
        self.path = path
        self.options = options
        self.version = version

    @classmethod
    def read(cls, path: str) -> KernelConfig:
        """Parse a plain or gzip-compressed configuration; LxcError if it cannot be read."""
        try:
            with open(path, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise LxcError(f"cannot read kernel configuration {path}: {reason}") from err
        return cls.parse(path, raw.decode(errors="replace"))

    @classmethod
    def parse(cls, path: str, text: str) -> KernelConfig:
        options: set[str] = set()
        version: Version | None = None
        for line in text.splitlines():
            match = _OPTION.match(line)
            if match:
                options.add(match.group(1))
            elif version is None and _HEADER.match(line):
                found = _VERSION.search(line)
                if found:
                    version = (int(found[1]), int(found[2]), int(found[3] or 0))
        return cls(path, frozenset(options), version)

    def enabled(self, option: str) -> bool:
        return option in self.options


# ---------------------------------------------------------------------------
# Probing the running kernel
# ---------------------------------------------------------------------------


def _read(path: str) -> str:
    """A /proc or /sys file's text, or '' when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _exists(path: str) -> bool:
    return os.path.exists(path)


def kernel_release() -> str:
    return os.uname().release


def release_version(release: str) -> Version:
    """(major, minor, patch) of a `uname -r` string such as 6.18.44-fc-v782."""
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not found:
        return LATEST
    return int(found[1]), int(found[2]), int(found[3] or 0)


def _fork_probe(body: Callable[[], int], timeout: float = 30.0) -> int | None:
    """Run `body` in a forked child and return its result (0-255), None if it died.

    Namespace and link probes change the calling process (unshare) or the host,
    so they run in a throw-away child. The command is synchronous and
    single-threaded (no trio), so fork is safe here. The child reports through
    its exit status and never returns into the caller's code.
    """
    import select

    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 255
        try:
            os.close(read_end)
            code = body()
        except BaseException:  # noqa: B036 - nothing may escape a forked child
            code = 255
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], timeout)
        if not ready:  # hung: give up on it rather than on the report
            os.kill(pid, 9)
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None


def _unshare_errno(flag: int) -> int | None:
    """0 when unshare(flag) works in a child, else its errno (None: child died)."""
    from runtime.kernel import linux

    def body() -> int:
        try:
            linux.unshare(flag)
        except OSError as err:
            return min(err.errno or 254, 254)
        return 0

    return _fork_probe(body)


def _namespace(flag: int, name: str) -> Callable[[], bool]:
    """Probe: unshare(2) of that namespace type in a forked child.

    Success means the type is built in; EINVAL means the kernel lacks it. Other
    errors (EPERM when not root, ENOSPC when user namespaces are limited to 0)
    say nothing about the build, so /proc/self/ns/<name>, which exists only for
    namespace types the kernel has, decides.
    """

    def probe() -> bool:
        result = _unshare_errno(flag)
        if result == 0:
            return True
        if result == errno.EINVAL:
            return False
        return _exists(f"/proc/self/ns/{name}")

    return probe


def cgroup_controllers() -> set[str]:
    """Controllers the kernel was built with: /proc/cgroups, plus the v2 root's list."""
    names: set[str] = set()
    for line in _read("/proc/cgroups").splitlines():
        if line and not line.startswith("#"):
            names.add(line.split()[0])
    for mountpoint in cgroup_mounts("cgroup2")[:1]:
        names.update(_read(os.path.join(mountpoint, "cgroup.controllers")).split())
    return names


def _controller(name: str) -> Callable[[], bool]:
    """Probe: the controller is listed in /proc/cgroups (or the cgroup2 root)."""
    return lambda: name in cgroup_controllers()


def _smp() -> bool:
    """Probe: an SMP kernel says so in its version string (`#1 SMP PREEMPT ...`)."""
    return "SMP" in os.uname().version.split()


def kernel_modules(release: str) -> set[str]:
    """Module names shipped with the kernel (built in or loadable), '-' read as '_'.

    From /lib/modules/<release>/modules.builtin and modules.dep; empty when the
    kernel has no module tree (everything then shows up in /proc instead).
    """
    names: set[str] = set()
    base = f"/lib/modules/{release}"
    for index in ("modules.builtin", "modules.dep"):
        for line in _read(os.path.join(base, index)).splitlines():
            path = line.split(":", 1)[0].strip()
            if path:
                module = os.path.basename(path).split(".ko", 1)[0]
                names.add(module.replace("-", "_"))
    return names


class LinkProbe:
    """Which link types the kernel can create: veth, macvlan, vlan, bridge.

    How: a forked child enters a fresh network namespace (inside a new user
    namespace when it lacks the privilege for a plain one) and, with pyroute2, creates a veth pair `tlxcchk<pid>a/b`, a
    macvlan and a vlan on top of its `a` end, and a bridge, deleting each link
    again (even on error). A kind the kernel lacks fails with EOPNOTSUPP after
    the kernel's own module autoload; any other failure is undecided and the
    kernel's module list decides. Working in a private namespace means nothing
    can be left behind on the host even if the child is killed; when the child
    cannot get one, root works in the host's namespace with the same unique
    names and the same clean-up, and anyone else only looks at the kinds of the
    links that already exist (a kind in use is a kind the kernel has).
    """

    KINDS = ("veth", "macvlan", "vlan", "bridge")
    MODULES = {"veth": "veth", "macvlan": "macvlan", "vlan": "8021q", "bridge": "bridge"}
    # child exit status: two bits per kind: 0 undecided, 1 works, 2 missing
    _WORKS, _MISSING = 1, 2

    def __init__(self, release: str) -> None:
        self.release = release
        self._answers: dict[str, bool] | None = None

    def enabled(self, kind: str) -> bool:
        if self._answers is None:
            self._answers = self._probe()
        return self._answers[kind]

    def _probe(self) -> dict[str, bool]:
        status = _fork_probe(self._child)
        answers: dict[str, bool] = {}
        modules: set[str] | None = None
        for i, kind in enumerate(self.KINDS):
            verdict = 0 if status is None or status == 255 else (status >> (2 * i)) & 3
            if verdict in (self._WORKS, self._MISSING):
                answers[kind] = verdict == self._WORKS
                continue
            if modules is None:
                modules = kernel_modules(self.release)
            answers[kind] = self.MODULES[kind] in modules
        return answers

    @classmethod
    def _child(cls) -> int:
        """In the forked child: isolate, try every kind, encode the verdicts."""
        prefix = f"tlxcchk{os.getpid()}"
        if _private_netns() or os.geteuid() == 0:
            verdicts = try_link_kinds(prefix)
        else:  # no namespace of our own and no right to touch the host's
            verdicts = existing_link_kinds()
        code = 0
        for i, kind in enumerate(cls.KINDS):
            code |= verdicts.get(kind, 0) << (2 * i)
        return code


def _private_netns() -> bool:
    """Enter a new network namespace: directly, else inside a new user namespace."""
    from runtime.kernel import linux

    for flags in (linux.CLONE_NEWNET, linux.CLONE_NEWUSER | linux.CLONE_NEWNET):
        try:
            linux.unshare(flags)
            return True
        except OSError:
            continue
    return False


def existing_link_kinds() -> dict[str, int]:
    """Kinds of the links that already exist (1 = works); the rest stay undecided.

    The unprivileged fallback: reading links needs no privilege, and a kind in
    use is a kind the kernel has.
    """
    from pyroute2 import IPRoute

    seen: dict[str, int] = {}
    with IPRoute() as ipr:
        for link in ipr.get_links():
            kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            if kind in LinkProbe.KINDS:
                seen[str(kind)] = LinkProbe._WORKS
    return seen


def try_link_kinds(prefix: str) -> dict[str, int]:
    """Create and delete one link of each kind; 1 works, 2 missing, 0 undecided.

    `prefix` is at most 14 characters (IFNAMSIZ is 16 with the NUL and a suffix
    letter). pyroute2 is imported here only: the command's other paths never
    load it.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    def verdict(err: NetlinkError) -> int:
        return LinkProbe._MISSING if err.code == errno.EOPNOTSUPP else 0

    results: dict[str, int] = {}
    created: list[str] = []
    with IPRoute() as ipr:
        try:
            parent: int | None = None
            try:
                ipr.link("add", ifname=prefix + "a", kind="veth", peer={"ifname": prefix + "b"})
                created.append(prefix + "a")
                results["veth"] = LinkProbe._WORKS
                parent = ipr.link_lookup(ifname=prefix + "a")[0]
            except NetlinkError as err:
                results["veth"] = verdict(err)
            attempts: list[tuple[str, str, dict[str, object]]] = [
                ("bridge", prefix + "r", {}),
            ]
            if parent is not None:
                attempts += [
                    ("macvlan", prefix + "m", {"link": parent, "macvlan_mode": "bridge"}),
                    ("vlan", prefix + "v", {"link": parent, "vlan_id": 2}),
                ]
            for kind, name, extra in attempts:
                try:
                    ipr.link("add", ifname=name, kind=kind, **extra)
                    created.append(name)
                    results[kind] = LinkProbe._WORKS
                except NetlinkError as err:
                    results[kind] = verdict(err)
        finally:
            for name in reversed(created):  # upper devices before their veth parent
                _delete_link(ipr, name)
    return results


def _delete_link(ipr: IPRoute, name: str) -> None:
    """Delete a probe link if it still exists; never raise (clean-up path)."""
    try:
        indexes = ipr.link_lookup(ifname=name)
        if indexes:
            ipr.link("del", index=indexes[0])
    except Exception:  # noqa: BLE001 - best effort: the veth peer goes with its pair
        pass


def _proc_list(path: str) -> set[str]:
    return set(_read(path).split())


class Netfilter:
    """What x_tables offers: registered targets and matches, and the module list.

    /proc/net/ip_tables_targets and ip_tables_matches (and the ip6 ones) list
    every target/match built in or loaded, for that family and for all families;
    they exist once ip_tables is loaded. Modules not loaded yet are found in
    /lib/modules/<release>/modules.builtin and modules.dep.
    """

    # Matches/targets whose Kconfig entries depend on NETFILTER_ADVANCED.
    ADVANCED_ONLY = ("comment", "u32", "statistic", "string", "CHECKSUM", "TEE")

    def __init__(self, release: str) -> None:
        self.v4 = _proc_list("/proc/net/ip_tables_targets") | _proc_list(
            "/proc/net/ip_tables_matches"
        )
        self.v6 = _proc_list("/proc/net/ip6_tables_targets") | _proc_list(
            "/proc/net/ip6_tables_matches"
        )
        self.modules = kernel_modules(release)

    def has(self, name: str, modules: Iterable[str], *, v4: bool = True, v6: bool = True) -> bool:
        listed = (v4 and name in self.v4) or (v6 and name in self.v6)
        return listed or any(m in self.modules for m in modules)

    def present(self) -> bool:
        return _exists("/proc/sys/net/netfilter") or _exists("/proc/net/netfilter")

    def advanced(self) -> bool:
        """NETFILTER_ADVANCED: netfilter exists and some advanced-only match/target does."""
        return self.present() and any(self.has(name, [f"xt_{name}"]) for name in self.ADVANCED_ONLY)


def _fuse() -> bool:
    """Probe: `fuse` in /proc/filesystems, or /dev/fuse is a character device."""
    for line in _read("/proc/filesystems").splitlines():
        if line.split()[-1:] == ["fuse"]:
            return True
    try:
        return stat.S_ISCHR(os.stat("/dev/fuse").st_mode)
    except OSError:
        return False


def _checkpoint_restore() -> bool:
    """Probe: prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE) answers only with CHECKPOINT_RESTORE;
    failing that, /proc/sys/kernel/ns_last_pid exists only with it."""
    from runtime.kernel import linux

    try:
        linux.mm_map_size()
        return True
    except OSError:
        return _exists("/proc/sys/kernel/ns_last_pid")


def _syscall_exists(call: Callable[[], object]) -> bool:
    """True unless the call fails with ENOSYS (the kernel was built without it)."""
    try:
        call()
    except OSError as err:
        return err.errno != errno.ENOSYS
    return True


def _fhandle() -> bool:
    """Probe: name_to_handle_at(2) on / is not ENOSYS."""
    from runtime.kernel import linux

    return _syscall_exists(lambda: linux.name_to_handle_at("/"))


def _eventfd() -> bool:
    """Probe: eventfd(2) is not ENOSYS."""
    return _syscall_exists(lambda: os.close(os.eventfd(0, os.EFD_CLOEXEC)))


def _epoll() -> bool:
    """Probe: epoll_create1(2) is not ENOSYS."""
    import select

    return _syscall_exists(lambda: select.epoll().close())


# sock_diag request bodies (linux/unix_diag.h, inet_diag.h, packet_diag.h, netlink_diag.h)
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3


def _diag_request(family: int) -> bytes:
    """A dump request for sockets of `family` that matches (almost) nothing."""
    import socket
    import struct

    if family == socket.AF_INET:  # inet_diag_req_v2, TCP, no states: empty dump
        return struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0) + bytes(48)
    if family == socket.AF_UNIX:  # unix_diag_req, no states: empty dump
        return struct.pack("=BBHIIIII", family, 0, 0, 0, 0, 0, 0, 0)
    # packet_diag_req / netlink_diag_req (protocol 0: NETLINK_ROUTE sockets only)
    return struct.pack("=BBHIIII", family, 0, 0, 0, 0, 0, 0)


def sock_diag_supported(family: int) -> bool:
    """Probe: a NETLINK_SOCK_DIAG dump for that address family.

    The kernel answers ENOENT when no diag handler is registered for the family
    (after trying to load its module), so anything else means it is built in.
    """
    import socket
    import struct

    try:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG
        )
    except OSError:
        return False
    with sock:
        sock.settimeout(5)
        body = _diag_request(family)
        header = struct.pack(
            "=IHHII", 16 + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
        )
        try:
            sock.sendto(header + body, (0, 0))
            for _ in range(10000):
                code = _diag_reply(sock.recv(65536))
                if code is not None:
                    return code != errno.ENOENT
        except OSError:
            return False
    return True


def _diag_reply(data: bytes) -> int | None:
    """Scan one datagram of netlink messages: errno at DONE/ERROR (0 = fine), else None."""
    import struct

    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if kind in (_NLMSG_ERROR, _NLMSG_DONE):
            value = struct.unpack_from("=i", data, offset + 16)[0] if length >= 20 else 0
            return -value if value < 0 else 0
        if length < 16:
            return None
        offset += (length + 3) & ~3
    return None


def _diag(family_name: str) -> Callable[[], bool]:
    import socket

    family = int(getattr(socket, family_name))
    return lambda: sock_diag_supported(family)


def _file_caps(version: Version) -> Callable[[], bool]:
    """Probe: write a `security.capability` xattr on a temporary file.

    Success shows the kernel understands file capabilities. Failure may be the
    filesystem's or our privileges', not the kernel's; since 2.6.33 file
    capabilities are always built in, so the version decides then (LXC's rule).
    """

    def probe() -> bool:
        import struct
        import tempfile

        # struct vfs_cap_data, revision 2, no capabilities: valid and harmless
        value = struct.pack("<5I", 0x02000000, 0, 0, 0, 0)
        try:
            with tempfile.NamedTemporaryFile(prefix="tlxcchk") as f:
                os.setxattr(f.name, "security.capability", value)
                return True
        except OSError:
            return version >= (2, 6, 33)

    return probe


class RunningKernel:
    """Answers `enabled(CONFIG_X)` for the booted kernel by probing it (no config file).

    Each probe runs at most once. An option with no probe counts as missing.
    """

    def __init__(self, release: str | None = None) -> None:
        self.release = release or kernel_release()
        self.version: Version | None = release_version(self.release)
        self.path: str | None = None
        self._cache: dict[str, bool] = {}
        self._links = LinkProbe(self.release)
        self._netfilter: Netfilter | None = None
        self.probes = self._probes()

    def _nf(self) -> Netfilter:
        if self._netfilter is None:
            self._netfilter = Netfilter(self.release)
        return self._netfilter

    def _probes(self) -> dict[str, Callable[[], bool]]:
        """One probe per CONFIG_ option the report asks about.

        - namespaces: unshare(2) in a forked child (`_namespace`); NAMESPACES is
          on when any type is;
        - cgroups: /proc/cgroups or /proc/self/cgroup exists; DEVICE, SCHED,
          CPUACCT, MEMCG and CPUSETS: the devices, cpu, cpuacct, memory and cpuset
          controllers are listed in /proc/cgroups or the cgroup2 root (`_controller`);
          SMP: the kernel version string says SMP;
        - veth, macvlan, vlan, bridge: create and delete one link (`LinkProbe`);
        - netfilter: x_tables' registered targets/matches, else modules (`Netfilter`);
        - FUSE: /proc/filesystems, /dev/fuse, else the module list;
        - checkpoint/restore: PR_SET_MM_MAP_SIZE or ns_last_pid; FHANDLE,
          EVENTFD, EPOLL: the system call is not ENOSYS; *_DIAG: a sock_diag dump
          for that family is not ENOENT; file capabilities: a security.capability
          xattr (`_file_caps`);
        - DEVPTS_MULTIPLE_INSTANCES (asked only before 4.7): devpts exists.
        """
        from runtime.kernel import linux

        nf = self._nf
        namespaces = {
            "CONFIG_UTS_NS": _namespace(linux.CLONE_NEWUTS, "uts"),
            "CONFIG_IPC_NS": _namespace(linux.CLONE_NEWIPC, "ipc"),
            "CONFIG_PID_NS": _namespace(linux.CLONE_NEWPID, "pid"),
            "CONFIG_USER_NS": _namespace(linux.CLONE_NEWUSER, "user"),
            "CONFIG_NET_NS": _namespace(linux.CLONE_NEWNET, "net"),
        }
        return {
            # any namespace type at all means the NAMESPACES umbrella is on
            "CONFIG_NAMESPACES": lambda: any(self.enabled(o) for o in namespaces),
            **namespaces,
            # only asked about on kernels before 4.7; devpts itself is the best hint
            "CONFIG_DEVPTS_MULTIPLE_INSTANCES": lambda: "devpts" in _read("/proc/filesystems"),
            "CONFIG_CGROUPS": lambda: _exists("/proc/cgroups") or _exists("/proc/self/cgroup"),
            "CONFIG_CGROUP_DEVICE": _controller("devices"),
            "CONFIG_CGROUP_SCHED": _controller("cpu"),
            "CONFIG_CGROUP_CPUACCT": _controller("cpuacct"),
            "CONFIG_MEMCG": _controller("memory"),
            "CONFIG_CGROUP_MEM_RES_CTLR": _controller("memory"),
            "CONFIG_SMP": _smp,
            "CONFIG_CPUSETS": _controller("cpuset"),
            "CONFIG_VETH": lambda: self._links.enabled("veth"),
            "CONFIG_MACVLAN": lambda: self._links.enabled("macvlan"),
            "CONFIG_VLAN_8021Q": lambda: self._links.enabled("vlan"),
            "CONFIG_BRIDGE": lambda: self._links.enabled("bridge"),
            "CONFIG_NETFILTER_ADVANCED": lambda: nf().advanced(),
            "CONFIG_NF_NAT_IPV4": lambda: nf().has("SNAT", ["nf_nat_ipv4"], v6=False),
            "CONFIG_NF_NAT_IPV6": lambda: nf().has("SNAT", ["nf_nat_ipv6"], v4=False),
            "CONFIG_IP_NF_TARGET_MASQUERADE": lambda: nf().has(
                "MASQUERADE",
                ["ipt_MASQUERADE", "xt_MASQUERADE", "nf_nat_masquerade_ipv4"],
                v6=False,
            ),
            "CONFIG_IP6_NF_TARGET_MASQUERADE": lambda: nf().has(
                "MASQUERADE",
                ["ip6t_MASQUERADE", "xt_MASQUERADE", "nf_nat_masquerade_ipv6"],
                v4=False,
            ),
            "CONFIG_NETFILTER_XT_TARGET_CHECKSUM": lambda: nf().has("CHECKSUM", ["xt_CHECKSUM"]),
            "CONFIG_NETFILTER_XT_MATCH_COMMENT": lambda: nf().has("comment", ["xt_comment"]),
            "CONFIG_FUSE_FS": lambda: _fuse() or "fuse" in kernel_modules(self.release),
            "CONFIG_CHECKPOINT_RESTORE": _checkpoint_restore,
            "CONFIG_FHANDLE": _fhandle,
            "CONFIG_EVENTFD": _eventfd,
            "CONFIG_EPOLL": _epoll,
            "CONFIG_UNIX_DIAG": _diag("AF_UNIX"),
            "CONFIG_INET_DIAG": _diag("AF_INET"),
            "CONFIG_PACKET_DIAG": _diag("AF_PACKET"),
            "CONFIG_NETLINK_DIAG": _diag("AF_NETLINK"),
            "CONFIG_SECURITY_FILE_CAPABILITIES": _file_caps(self.version or LATEST),
        }

    def enabled(self, option: str) -> bool:
        if option not in self._cache:
            probe = self.probes.get(option)
            try:
                self._cache[option] = bool(probe and probe())
            except Exception:  # noqa: BLE001 - a probe that breaks means "not found", not a crash
                self._cache[option] = False
        return self._cache[option]


# ---------------------------------------------------------------------------
# Live facts LXC reads whatever the configuration says
# ---------------------------------------------------------------------------


def _unescape(field: str) -> str:
    """Undo the octal escapes (\\040 for a space) of /proc mount tables."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def cgroup_mounts(fstype: str) -> list[str]:
    """Mount points of that filesystem type, in /proc/self/mountinfo order."""
    mounts: list[str] = []
    for line in _read("/proc/self/mountinfo").splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if sep and len(fields) >= 5 and right.split()[:1] == [fstype]:
            mounts.append(_unescape(fields[4]))
    return mounts


def loaded_modules() -> list[str] | None:
    """Lines of /proc/modules (None when the kernel has no module support)."""
    if not os.path.isfile("/proc/modules"):
        return None
    return _read("/proc/modules").splitlines()


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


class Palette:
    """LXC's colours: bold green, red, yellow; reset to the default foreground."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0;39m" if self.enabled else text

    def success(self, text: str) -> str:
        return self._paint("1;32", text)

    def failure(self, text: str) -> str:
        return self._paint("1;31", text)

    def warning(self, text: str) -> str:
        return self._paint("1;33", text)


def use_colour(stream: object, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Report:
    """Builds LXC's report line by line from a kernel source and the live system."""

    def __init__(
        self,
        kernel: KernelConfig | RunningKernel,
        palette: Palette,
        modules: list[str] | None,
    ) -> None:
        self.kernel = kernel
        self.palette = palette
        self.modules = modules
        self.lines: list[str] = []

    def status(self, ok: bool, mandatory: bool = False) -> str:
        if ok:
            return self.palette.success("enabled")
        if mandatory:
            return self.palette.failure("required")
        return self.palette.warning("missing")

    def item(self, label: str, option: str, mandatory: bool = False, module: str = "") -> bool:
        """`Label: enabled|required|missing[, loaded|, not loaded]` from the source."""
        ok = self.kernel.enabled(option)
        suffix = self.probed(module) if ok and module else ""
        self.lines.append(f"{label}: {self.status(ok, mandatory)}{suffix}")
        return ok

    def probed(self, module: str) -> str:
        """LXC's `lsmod | grep NAME`: `, loaded`, `, not loaded`, or nothing without modules."""
        if self.modules is None:
            return ""
        for line in self.modules:
            fields = line.split()
            if any(module in field for field in fields[:1] + fields[3:4]):
                return ", loaded"
        return ", not loaded"

    def build(self, first_lines: list[str], prog: str) -> list[str]:
        self.lines = list(first_lines)
        version = self.kernel.version
        if version is None:
            self.lines += [
                "WARNING: Unable to detect version from configuration, assuming latest",
                "",
            ]
            version = LATEST
        self.lines.append("")
        self.namespaces(version)
        self.control_groups(version)
        self.misc(version)
        self.checkpoint_restore(version)
        self.lines += [
            "",
            "Note : Before booting a new kernel, you can check its configuration",
            f"usage : CONFIG=/path/to/config {prog}",
            "",
        ]
        return self.lines

    def namespaces(self, version: Version) -> None:
        self.lines.append("--- Namespaces ---")
        self.item("Namespaces", "CONFIG_NAMESPACES", mandatory=True)
        self.item("Utsname namespace", "CONFIG_UTS_NS")
        self.item("Ipc namespace", "CONFIG_IPC_NS", mandatory=True)
        self.item("Pid namespace", "CONFIG_PID_NS", mandatory=True)
        if self.item("User namespace", "CONFIG_USER_NS"):
            self.lines += id_map_helpers()
        self.item("Network namespace", "CONFIG_NET_NS")
        if version[:2] < (4, 7):
            self.item("Multiple /dev/pts instances", "CONFIG_DEVPTS_MULTIPLE_INSTANCES")
        self.lines.append("")

    def control_groups(self, version: Version) -> None:
        self.lines.append("--- Control groups ---")
        self.item("Cgroups", "CONFIG_CGROUPS")
        has_ns = os.path.exists("/proc/self/ns/cgroup")
        self.lines.append(f"Cgroup namespace: {self.status(has_ns)}")
        v1 = cgroup_mounts("cgroup")
        v2 = cgroup_mounts("cgroup2")
        self.lines.append("Cgroup v1 mount points: ")
        self.lines += [f" - {m}" for m in v1]
        self.lines.append("Cgroup v2 mount points: ")
        self.lines += [f" - {m}" for m in v2]
        if v2 != ["/sys/fs/cgroup"]:  # not a pure cgroup2 host: v1 matters
            if not any("/systemd" in m for m in v1):
                self.lines.append(
                    f"Cgroup v1 systemd controller: {self.palette.failure('missing')}"
                )
            if not any("/freezer" in m for m in v1):
                self.lines.append(
                    f"Cgroup v1 freezer controller: {self.palette.failure('missing')}"
                )
            if v1 and os.path.isfile(os.path.join(v1[0], "cgroup.clone_children")):
                self.lines.append(
                    f"Cgroup v1 clone_children flag: {self.palette.success('enabled')}"
                )
        self.item("Cgroup device", "CONFIG_CGROUP_DEVICE")
        self.item("Cgroup sched", "CONFIG_CGROUP_SCHED")
        self.item("Cgroup cpu account", "CONFIG_CGROUP_CPUACCT")
        memcg = "CONFIG_MEMCG" if version[:2] >= (3, 6) else "CONFIG_CGROUP_MEM_RES_CTLR"
        self.item("Cgroup memory controller", memcg)
        if self.kernel.enabled("CONFIG_SMP"):
            self.item("Cgroup cpuset", "CONFIG_CPUSETS")
        self.lines.append("")

    def misc(self, version: Version) -> None:
        self.lines.append("--- Misc ---")
        self.item("Veth pair device", "CONFIG_VETH", module="veth")
        self.item("Macvlan", "CONFIG_MACVLAN", module="macvlan")
        self.item("Vlan", "CONFIG_VLAN_8021Q", module="8021q")
        self.item("Bridges", "CONFIG_BRIDGE", module="bridge")
        self.item("Advanced netfilter", "CONFIG_NETFILTER_ADVANCED", module="nf_tables")
        if (4, 7) <= version[:2] < (5, 0):
            self.item("CONFIG_NF_NAT_IPV4", "CONFIG_NF_NAT_IPV4", module="nf_nat_ipv4")
            self.item("CONFIG_NF_NAT_IPV6", "CONFIG_NF_NAT_IPV6", module="nf_nat_ipv6")
        for option, module in (
            ("CONFIG_IP_NF_TARGET_MASQUERADE", "nf_nat_masquerade_ipv4"),
            ("CONFIG_IP6_NF_TARGET_MASQUERADE", "nf_nat_masquerade_ipv6"),
            ("CONFIG_NETFILTER_XT_TARGET_CHECKSUM", "xt_CHECKSUM"),
            ("CONFIG_NETFILTER_XT_MATCH_COMMENT", "xt_comment"),
        ):
            self.item(option, option, module=module)
        self.item("FUSE (for use with lxcfs)", "CONFIG_FUSE_FS", module="fuse")
        self.lines.append("")

    def checkpoint_restore(self, version: Version) -> None:
        self.lines.append("--- Checkpoint/Restore ---")
        self.item("checkpoint restore", "CONFIG_CHECKPOINT_RESTORE")
        for option in (
            "CONFIG_FHANDLE",
            "CONFIG_EVENTFD",
            "CONFIG_EPOLL",
            "CONFIG_UNIX_DIAG",
            "CONFIG_INET_DIAG",
            "CONFIG_PACKET_DIAG",
            "CONFIG_NETLINK_DIAG",
        ):
            self.item(option, option)
        if version < (2, 6, 33) or isinstance(self.kernel, RunningKernel):
            self.item("File capabilities", "CONFIG_SECURITY_FILE_CAPABILITIES")
        else:  # a file says nothing: built in unconditionally since 2.6.33
            self.lines.append(f"File capabilities: {self.palette.success('enabled')}")


def id_map_helpers() -> list[str]:
    """LXC's warnings about newuidmap/newgidmap (needed for unprivileged containers)."""
    import shutil

    lines: list[str] = []
    for tool in ("newuidmap", "newgidmap"):
        path = shutil.which(tool)
        if path is None:
            lines.append(f"{tool} is not installed")
        elif not os.stat(path).st_mode & stat.S_ISUID:
            lines.append(f"Warning: {tool} is not setuid-root")
    return lines


def command_path(argv0: str | None) -> str:
    """How the usage line names us: as invoked (LXC's $0), else `lxc-checkconfig`."""
    if argv0 and os.path.basename(argv0).startswith("lxc-checkconfig"):
        return argv0
    return "lxc-checkconfig"


def check_config(
    version_line: str,
    *,
    env: Mapping[str, str] | None = None,
    colour: bool = False,
    prog: str = "lxc-checkconfig",
) -> str:
    """The whole report as text: find the source, ask it every question, format."""
    env = os.environ if env is None else env
    release = kernel_release()
    path, source_line = find_config(env, release)
    kernel: KernelConfig | RunningKernel
    kernel = KernelConfig.read(path) if path else RunningKernel(release)
    report = Report(kernel, Palette(colour), loaded_modules())
    return "\n".join(report.build([version_line, source_line], prog)) + "\n"
