"""lxc-checkconfig and runtime.kernel.linux, on the real machine.

The command runs as a subprocess, as a user would run it: once probing the
running kernel (this VM has /proc/config.gz, so the probe is forced with
TRIO_LXC_CHECKCONFIG_PROBE=1), once per small kernel configuration written
here. Expectations come from independent sources: LXC 5.0.2's line list,
/proc/self/mounts, and pyroute2 for whether a vlan can be created. Every test
leaves no `tlxcchk*`/`tlxctst*` link, mount or process behind, even on failure.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import pty
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.kernel import linux

ROOT = Path(__file__).resolve().parent.parent
COMMAND = Path(sys.executable).parent / "lxc-checkconfig"
RELEASE = os.uname().release

#: LXC 5.0.2's report on this kind of machine, line by line ("{v1}"/"{v2}":
#: the cgroup mount points, "@" a label whose value varies, ":_" LXC's ": ").
LXC_LINES = """\
LXC version 5.0.2 (trio-lxc 0.1.0)
Kernel config: @

--- Namespaces ---
Namespaces: @
Utsname namespace: @
Ipc namespace: @
Pid namespace: @
User namespace: @
Network namespace: @

--- Control groups ---
Cgroups: @
Cgroup namespace: @
Cgroup v1 mount points:_
{v1}
Cgroup v2 mount points:_
{v2}
Cgroup v1 clone_children flag: @
Cgroup device: @
Cgroup sched: @
Cgroup cpu account: @
Cgroup memory controller: @
Cgroup cpuset: @

--- Misc ---
Veth pair device: @
Macvlan: @
Vlan: @
Bridges: @
Advanced netfilter: @
CONFIG_IP_NF_TARGET_MASQUERADE: @
CONFIG_IP6_NF_TARGET_MASQUERADE: @
CONFIG_NETFILTER_XT_TARGET_CHECKSUM: @
CONFIG_NETFILTER_XT_MATCH_COMMENT: @
FUSE (for use with lxcfs): @

--- Checkpoint/Restore ---
checkpoint restore: @
CONFIG_FHANDLE: @
CONFIG_EVENTFD: @
CONFIG_EPOLL: @
CONFIG_UNIX_DIAG: @
CONFIG_INET_DIAG: @
CONFIG_PACKET_DIAG: @
CONFIG_NETLINK_DIAG: @
File capabilities: @

Note : Before booting a new kernel, you can check its configuration
usage : CONFIG=/path/to/config @

"""


# --------------------------------------------------------------------------- helpers


def link_names() -> set[str]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return {str(link.get("ifname")) for link in ipr.get_links()}


@pytest.fixture(autouse=True)
def no_probe_links_left() -> Iterator[None]:
    """Every test must leave the host's links as it found them."""
    yield
    left = sorted(n for n in link_names() if n.startswith(("tlxcchk", "tlxctst")))
    assert not left, f"links left behind: {left}"


def run(env_extra: dict[str, str] | None = None, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command with a clean environment (no CONFIG unless given)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONFIG", "NO_COLOR")}
    env.pop("TRIO_LXC_CHECKCONFIG_PROBE", None)
    env.update(env_extra or {})
    argv = [str(COMMAND)] if COMMAND.exists() else [sys.executable, "-m", "cli.lxc_checkconfig"]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def probe_report() -> list[str]:
    result = run({"TRIO_LXC_CHECKCONFIG_PROBE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.split("\n")


def mounts_of(fstype: str) -> list[str]:
    """LXC's own way: field 2 of /proc/self/mounts where field 3 is the type."""
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[2] == fstype]


def expected_skeleton() -> list[str]:
    v1 = "\n".join(f" - {m}" for m in mounts_of("cgroup"))
    v2 = "\n".join(f" - {m}" for m in mounts_of("cgroup2"))
    text = LXC_LINES.replace(":_\n", ": \n").replace("{v1}\n", v1 + "\n" if v1 else "")
    text = text.replace("{v2}\n", v2 + "\n" if v2 else "")
    return text.split("\n")


def same_shape(lines: list[str], skeleton: list[str]) -> None:
    """Line by line: the same text, except the value after a label marked '@'."""
    assert len(lines) == len(skeleton), "\n".join(lines)
    for got, want in zip(lines, skeleton, strict=True):
        if want.endswith("@"):
            assert got.startswith(want[:-1]), (got, want)
        else:
            assert got == want


def values(lines: list[str]) -> dict[str, str]:
    return {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines if ": " in line}


def vlan_works() -> bool:
    """Decide independently: can pyroute2 put a vlan on a veth in the host namespace?"""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    a, b, v = (f"tlxctst{os.getpid() % 100000}{s}" for s in "abv")
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=a, kind="veth", peer={"ifname": b})
            parent = ipr.link_lookup(ifname=a)[0]
            try:
                ipr.link("add", ifname=v, kind="vlan", link=parent, vlan_id=7)
            except NetlinkError:
                return False
            return True
        finally:
            for name in (v, a):
                for index in ipr.link_lookup(ifname=name):
                    ipr.link("del", index=index)


def write_config(path: Path, text: str, *, compress: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


SMALL_CONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.0 Kernel Configuration
#
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=m
# CONFIG_IPC_NS is not set
CONFIG_USER_NS=y
CONFIG_NET_NS=y
CONFIG_CGROUPS=y
CONFIG_CGROUP_DEVICE=y
CONFIG_MEMCG=m
CONFIG_SMP=y
CONFIG_CPUSETS=y
CONFIG_VETH=m
# CONFIG_MACVLAN is not set
CONFIG_VLAN_8021Q=y
CONFIG_BRIDGE=m
CONFIG_NETFILTER_XT_MATCH_COMMENT=m
CONFIG_CHECKPOINT_RESTORE=y
CONFIG_EPOLL=y
"""


# --------------------------------------------------------------------------- probing


def test_probe_report_has_lxc_lines_in_lxc_order() -> None:
    lines = probe_report()
    same_shape(lines, expected_skeleton())
    assert lines[1] == (
        "Kernel config: skipped (TRIO_LXC_CHECKCONFIG_PROBE is set), probing the running kernel"
    )
    assert lines[-3] == f"usage : CONFIG=/path/to/config {COMMAND}"


def test_probe_finds_namespaces_links_and_cgroups() -> None:
    got = values(probe_report())
    for label in (
        "Namespaces",
        "Utsname namespace",
        "Ipc namespace",
        "Pid namespace",
        "User namespace",
        "Network namespace",
        "Cgroups",
        "Cgroup namespace",
        "Cgroup v1 clone_children flag",
        "Cgroup device",
        "Cgroup memory controller",
        "Veth pair device",
        "Macvlan",
        "Bridges",
        "CONFIG_EVENTFD",
        "CONFIG_EPOLL",
        "CONFIG_UNIX_DIAG",
    ):
        assert got[label] == "enabled", label
    assert got["Vlan"] == ("enabled" if vlan_works() else "missing")


@pytest.mark.skipif(not os.path.isfile("/proc/config.gz"), reason="needs /proc/config.gz")
def test_probe_agrees_with_the_kernels_own_config() -> None:
    probed = probe_report()
    from_config = run().stdout.split("\n")
    assert from_config[1] == "Kernel config: /proc/config.gz"
    assert probed[:1] + probed[2:] == from_config[:1] + from_config[2:]


def test_missing_config_file_falls_back_to_probing(tmp_path: Path) -> None:
    absent = tmp_path / "no-such-config"
    result = run({"CONFIG": str(absent)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    others = [f"/boot/config-{RELEASE}", f"/lib/modules/{RELEASE}/build/.config"]
    found = [p for p in others if os.path.isfile(p)]
    if found:
        assert lines[1] == f"Kernel config: {found[0]}"
    else:
        assert lines[1] == f"Kernel config: {absent} not found, probing the running kernel"
    same_shape(lines, expected_skeleton())


# --------------------------------------------------------------------------- config files


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_config_file_decides_every_kernel_line(tmp_path: Path, compress: bool) -> None:
    path = write_config(tmp_path / "config", SMALL_CONFIG, compress=compress)
    result = run({"CONFIG": str(path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    same_shape(lines, expected_skeleton())
    assert lines[1] == f"Kernel config: {path}"
    got = values(lines)
    expected = {
        "Namespaces": "enabled",
        "Utsname namespace": "enabled",  # =m counts
        "Ipc namespace": "required",  # "is not set", and LXC needs it
        "Pid namespace": "required",  # absent
        "User namespace": "enabled",
        "Network namespace": "enabled",
        "Cgroups": "enabled",
        "Cgroup device": "enabled",
        "Cgroup sched": "missing",
        "Cgroup cpu account": "missing",
        "Cgroup memory controller": "enabled",
        "Cgroup cpuset": "enabled",
        "Veth pair device": "enabled",
        "Macvlan": "missing",
        "Vlan": "enabled",
        "Bridges": "enabled",
        "Advanced netfilter": "missing",
        "CONFIG_IP_NF_TARGET_MASQUERADE": "missing",
        "CONFIG_NETFILTER_XT_MATCH_COMMENT": "enabled",
        "FUSE (for use with lxcfs)": "missing",
        "checkpoint restore": "enabled",
        "CONFIG_FHANDLE": "missing",
        "CONFIG_EPOLL": "enabled",
        "CONFIG_NETLINK_DIAG": "missing",
        "File capabilities": "enabled",  # built in since 2.6.33
    }
    assert {k: got[k] for k in expected} == expected


def test_gzip_and_plain_configs_give_the_same_report(tmp_path: Path) -> None:
    plain = run({"CONFIG": str(write_config(tmp_path / "a", SMALL_CONFIG))}).stdout
    packed = run({"CONFIG": str(write_config(tmp_path / "b", SMALL_CONFIG, compress=True))})
    assert packed.stdout.split("\n")[2:] == plain.split("\n")[2:]


def test_without_smp_there_is_no_cpuset_line(tmp_path: Path) -> None:
    text = SMALL_CONFIG.replace("CONFIG_SMP=y\n", "")
    lines = run({"CONFIG": str(write_config(tmp_path / "c", text))}).stdout.split("\n")
    assert not any(line.startswith("Cgroup cpuset") for line in lines)
    assert "Cgroup memory controller: enabled" in lines


def test_config_without_version_header_warns_and_assumes_latest(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c", "CONFIG_NAMESPACES=y\n")
    lines = run({"CONFIG": str(path)}).stdout.split("\n")
    assert lines[2:5] == [
        "WARNING: Unable to detect version from configuration, assuming latest",
        "",
        "",
    ]
    assert lines[5] == "--- Namespaces ---"


def test_old_kernels_get_their_extra_lines(tmp_path: Path) -> None:
    v4 = "# Linux/x86 4.9.0 Kernel Configuration\nCONFIG_NF_NAT_IPV4=y\n"
    lines = run({"CONFIG": str(write_config(tmp_path / "v4", v4))}).stdout.split("\n")
    got = values(lines)
    assert got["CONFIG_NF_NAT_IPV4"] == "enabled"
    assert got["CONFIG_NF_NAT_IPV6"] == "missing"
    assert (
        lines.index("CONFIG_NF_NAT_IPV4: enabled") == lines.index("Advanced netfilter: missing") + 1
    )

    v2 = (
        "# Linux 2.6.32 Kernel Configuration\n"
        "CONFIG_CGROUP_MEM_RES_CTLR=y\nCONFIG_DEVPTS_MULTIPLE_INSTANCES=y\n"
    )
    got = values(run({"CONFIG": str(write_config(tmp_path / "v2", v2))}).stdout.split("\n"))
    assert got["Multiple /dev/pts instances"] == "enabled"
    assert got["Cgroup memory controller"] == "enabled"
    assert got["File capabilities"] == "missing"  # SECURITY_FILE_CAPABILITIES not set


def test_unreadable_config_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run({"CONFIG": str(path)})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"lxc-checkconfig: cannot read kernel configuration {path}")
    assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- the command


def run_on_pty(env_extra: dict[str, str]) -> str:
    """Run with stdout on a terminal, as LXC's colours need."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(env_extra)
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.lxc_checkconfig"],
            stdout=slave,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        os.close(slave)
        slave = -1
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
        return b"".join(chunks).decode()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_colours_only_on_a_terminal_and_not_with_no_color(tmp_path: Path) -> None:
    config = str(write_config(tmp_path / "c", SMALL_CONFIG))
    coloured = run_on_pty({"CONFIG": config})
    assert "Namespaces: \033[1;32menabled\033[0;39m" in coloured
    assert "Ipc namespace: \033[1;31mrequired\033[0;39m" in coloured
    assert "Macvlan: \033[1;33mmissing\033[0;39m" in coloured
    assert "\033[" not in run_on_pty({"CONFIG": config, "NO_COLOR": "1"})
    assert "\033[" not in run({"CONFIG": config}).stdout


def test_quiet_prints_nothing_and_version_is_ours(tmp_path: Path) -> None:
    config = str(write_config(tmp_path / "c", SMALL_CONFIG))
    quiet = run({"CONFIG": config}, "-q")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    version = run({}, "--version")
    assert (version.returncode, version.stdout) == (0, "5.0.2 (trio-lxc 0.1.0)\n")


def test_client_path_imports_neither_trio_nor_pyroute2(tmp_path: Path) -> None:
    config = str(write_config(tmp_path / "c", SMALL_CONFIG))
    code = (
        "import sys\n"
        "from cli.lxc_checkconfig import main\n"
        "assert main(['-q']) == 0\n"
        "bad = [m for m in ('trio', 'pyroute2', 'pyinotify') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "CONFIG": config}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- runtime.kernel.linux


def in_child(body: Callable[[], None]) -> int:
    """Run `body` in a forked child; its exit code (0 when it returned, 1 on exception)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        except BaseException as err:  # noqa: B036 - report, never return into pytest
            os.write(2, f"child failed: {err!r}\n".encode())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_unshare_uts_keeps_the_hosts_hostname() -> None:
    host = socket.gethostname()
    fresh = f"tlxc-{os.getpid()}"

    def child() -> None:
        linux.unshare(linux.CLONE_NEWUTS)
        socket.sethostname(fresh)
        assert socket.gethostname() == fresh

    assert in_child(child) == 0
    assert socket.gethostname() == host


def test_setns_returns_to_the_original_uts_namespace() -> None:
    host = socket.gethostname()

    def child() -> None:
        fd = os.open("/proc/self/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
        linux.unshare(linux.CLONE_NEWUTS)
        socket.sethostname("tlxc-elsewhere")
        linux.setns(fd, linux.CLONE_NEWUTS)
        assert socket.gethostname() == host

    assert in_child(child) == 0


def test_mount_and_umount2_a_tmpfs(tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    try:
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=0700")
        assert os.path.ismount(target)
        (target / "file").write_text("x")
        linux.umount2(target)
        assert not os.path.ismount(target)
        assert not (target / "file").exists()
    finally:
        with contextlib.suppress(OSError):
            if os.path.ismount(target):
                linux.umount2(target, linux.MNT_DETACH)


def test_errors_carry_errno_and_name_the_call(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught:
        linux.umount2(tmp_path)  # not a mount point
    assert caught.value.errno == errno.EINVAL
    assert "umount2(" in str(caught.value) and str(tmp_path) in str(caught.value)
    with pytest.raises(OSError) as caught:
        linux.mount(None, tmp_path / "absent", "tmpfs")
    assert caught.value.errno == errno.ENOENT
    assert "mount(" in str(caught.value)


def test_pivot_root_in_a_private_mount_namespace(tmp_path: Path) -> None:
    new_root = tmp_path / "root"
    new_root.mkdir()

    def child() -> None:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("tmpfs", new_root, "tmpfs", 0, "size=1m")
        os.mkdir(new_root / "old")
        (new_root / "marker").write_text("new")
        linux.pivot_root(new_root, new_root / "old")
        os.chdir("/")
        assert open("/marker").read() == "new"
        linux.umount2("/old", linux.MNT_DETACH)
        assert os.listdir("/old") == []

    assert in_child(child) == 0
    assert not os.path.ismount(new_root)  # the host never saw the tmpfs


def test_prctl_set_name_and_capbset_read() -> None:
    before = linux.get_name()
    try:
        linux.set_name("tlxc-prctl-name-too-long")
        assert linux.get_name() == "tlxc-prctl-name"  # the kernel keeps 15 bytes
        with open(f"/proc/self/task/{os.getpid()}/comm") as f:
            assert f.read().strip() == "tlxc-prctl-name"
    finally:
        linux.set_name(before)
    assert linux.get_name() == before
    assert linux.prctl(linux.PR_CAPBSET_READ, 21) in (0, 1)  # CAP_SYS_ADMIN


def test_importing_runtime_linux_loads_no_ctypes() -> None:
    code = "import sys, runtime.kernel.linux; assert 'ctypes' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert result.returncode == 0, result.stderr
