"""Unprivileged containers (lxc.idmap, user namespaces), end to end as root (issue 12).

Every test that maps ids uses a range the `subids` fixture adds to /etc/subuid
and /etc/subgid (an unused high range, unique per test) and removes afterwards,
restoring both files byte for byte (or removing them when they did not exist).
The lxcpath of these tests is a 0711 directory of its own under /tmp: pytest's
temporary directories are 0700, and a container's mapped root, which holds no
capability over the host root's directories, could not reach a rootfs there
(that refusal has a test of its own).
"""

from __future__ import annotations

import glob
import os
import random
import select
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import BIN, Cli, create_busybox, unique

from runtime.client.errors import ConfigError
from runtime.userns import maps as idmaps

RANGE = 65536
SUBID_FILES = ("/etc/subuid", "/etc/subgid")


@pytest.fixture
def lxcpath(lxc_env: dict[str, str]) -> Iterator[Path]:
    """A traversable lxcpath (0711), removed afterwards (after the runtime's clean-up)."""
    path = Path(tempfile.mkdtemp(prefix="trio-lxc-userns-", dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def subids() -> Iterator[int]:
    """A fresh range for root in /etc/subuid and /etc/subgid; its first host id."""
    base = 3_000_000_000 + random.randrange(0, 9000) * RANGE
    saved: dict[str, bytes | None] = {}
    for path in SUBID_FILES:
        try:
            saved[path] = Path(path).read_bytes()
        except FileNotFoundError:
            saved[path] = None
    try:
        for path in SUBID_FILES:
            old = saved[path] or b""
            sep = b"" if not old or old.endswith(b"\n") else b"\n"
            Path(path).write_bytes(old + sep + f"root:{base}:{RANGE}\n".encode())
        yield base
    finally:
        # Take out only our own line: another run on this machine may have added (or
        # be about to remove) its own meanwhile; restoring a snapshot would undo it.
        ours = f"root:{base}:{RANGE}\n".encode()
        for path, content in saved.items():
            current = Path(path).read_bytes() if Path(path).exists() else b""
            rest = b"".join(line for line in current.splitlines(keepends=True) if line != ours)
            if content is None and not rest:
                Path(path).unlink(missing_ok=True)
            else:
                Path(path).write_bytes(rest)


def map_lines(base: int) -> str:
    return f"lxc.idmap = u 0 {base} {RANGE}\nlxc.idmap = g 0 {base} {RANGE}\n"


def assert_mapped_root(result: subprocess.CompletedProcess[str], subids: int) -> None:
    """The output of `id -u; cat .../uid_map` run in the container: uid 0, and the
    container's root mapped to the start of the subordinate range."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(subids), str(RANGE)]


def create(cli: Cli, tmp_path: Path, config: str, prefix: str = "u") -> str:
    return create_busybox(cli, tmp_path, config, prefix)


def start(cli: Cli, name: str) -> int:
    result = cli("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    return int(cli("lxc-info", "-n", name, "-pH").stdout)


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def status_ids(pid: int) -> tuple[int, int]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def owning_userns(path: str) -> int:
    """The inode of the user namespace that owns namespace `path` (ioctl NS_GET_USERNS)."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        owner = fcntl.ioctl(fd, 0xB701)  # NS_GET_USERNS: returns a new fd
    finally:
        os.close(fd)
    try:
        return os.fstat(owner).st_ino
    finally:
        os.close(owner)


def map_of(pid: int, name: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in Path(f"/proc/{pid}/{name}").read_text().splitlines()]


# -- the maps, as a set (no container) ------------------------------------------------------


def _check(text: str) -> idmaps.IdMaps | None:
    from runtime.config.parser import parse_text

    return idmaps.check_raw(parse_text(text, "c.conf"))


def test_map_set_rules() -> None:
    good = _check("lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n")
    assert good is not None and good.root_uid == 100000 and good.text("g") == "0 100000 65536\n"
    assert good.host_uid(1000) == 101000 and good.ns_uid(100005) == 5 and good.host_uid(70000) is None
    assert _check("lxc.net.0.type = empty\n") is None
    cases = {
        "lxc.idmap = u 0 100000 65536\n": "c.conf:1: lxc.idmap: no gid map",
        "lxc.idmap = u 1 100000 10\nlxc.idmap = g 0 100000 10\n": "c.conf:2: lxc.idmap: container uid 0 is not mapped",
        "lxc.idmap = u 0 100000 10\nlxc.idmap = u 5 200000 10\nlxc.idmap = g 0 1 1\n": (
            "c.conf:2: lxc.idmap: 'u 5 200000 10' overlaps 'u 0 100000 10' in the container's ids"
        ),
        "lxc.idmap = b 0 100000 10\nlxc.idmap = g 10 100005 10\n": "c.conf:2: lxc.idmap: 'g 10 100005 10' overlaps",
        "lxc.idmap = u 0 4294967290 10\nlxc.idmap = g 0 1 1\n": "c.conf:1: lxc.idmap: 'u 0 4294967290 10': the range goes past",
        "lxc.idmap = u 0 100000 10\nlxc.idmap = g 0 0 65536\n": (
            "c.conf:2: lxc.idmap: 'g 0 0 65536': container root would be host root"
        ),
        "lxc.idmap = b 0 0 1\n": "c.conf:1: lxc.idmap: 'b 0 0 1': container root would be host root",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError) as caught:
            _check(text)
        assert str(caught.value).startswith(message), str(caught.value)
    many = "".join(f"lxc.idmap = u {i} {100000 + i} 1\n" for i in range(341)) + "lxc.idmap = g 0 1 1\n"
    with pytest.raises(ConfigError, match=r"c.conf:341: lxc.idmap: more than 340 uid map lines"):
        _check(many)


# -- start, attach, execute ---------------------------------------------------------------------


def test_system_container_runs_mapped(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    rootfs = runtime.lxcpath / name / "rootfs"
    assert (rootfs.stat().st_uid, rootfs.stat().st_gid) == (subids, subids)  # lxc-create shifted it
    assert (rootfs / "bin/busybox").stat().st_uid == subids
    pid = start(runtime, name)
    assert map_of(pid, "uid_map") == [[0, subids, RANGE]]
    assert map_of(pid, "gid_map") == [[0, subids, RANGE]]
    assert status_ids(pid) == (subids, subids)
    assert Path(f"/proc/{pid}/setgroups").read_text().strip() == "allow"  # as LXC, started by root
    # every other namespace is owned by the container's user namespace (NS_GET_USERNS)
    own_user = os.stat(f"/proc/{pid}/ns/user").st_ino
    for ns in ("mnt", "pid", "net", "uts", "ipc", "cgroup"):
        assert owning_userns(f"/proc/{pid}/ns/{ns}") == own_user, ns
    inside = runtime(
        "lxc-attach", "-n", name, "--",
        "sh", "-c", "id -u; cat /proc/self/uid_map; touch /root/made; ls -ln /proc/1/status | cut -c1-30",
    )  # fmt: skip
    assert_mapped_root(inside, subids)
    made = rootfs / "root/made"
    assert (made.stat().st_uid, made.stat().st_gid) == (subids, subids)
    as_user = runtime("lxc-attach", "-n", name, "-u", "1000", "-g", "1000", "--", "sh", "-c", "id -u; touch /tmp/u")
    assert as_user.returncode == 0, as_user.stderr
    assert as_user.stdout.strip() == "1000"
    assert (rootfs / "tmp/u").stat().st_uid == subids + 1000
    # cgroups: the payload directories and the delegated files belong to the mapped root
    paths = cgroups_of(name)
    assert paths
    for path in paths:
        assert os.stat(path).st_uid == subids
        assert os.stat(os.path.join(path, "cgroup.procs")).st_uid == subids
    fancy = runtime("lxc-ls", "-f", "-F", "NAME,UNPRIVILEGED").stdout.splitlines()
    assert fancy[1].split() == [name, "true"]
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert cgroups_of(name) == []


def test_execute_runs_mapped(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    result = runtime(
        "lxc-execute", "-n", name, "--",
        "sh", "-c", "id -u; cat /proc/1/uid_map; touch /tmp/app; ls -ln /tmp/app",
    )  # fmt: skip
    assert_mapped_root(result, subids)  # the init (pid 1), mapped too
    made = runtime.lxcpath / name / "rootfs/tmp/app"
    assert made.stat().st_uid == subids
    assert cgroups_of(name) == []


def test_bind_mount_of_host_files_shows_unmapped_owners_as_nobody(
    runtime: Cli, subids: int, tmp_path: Path
) -> None:
    shared = Path(tempfile.mkdtemp(prefix="trio-lxc-userns-bind-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        (shared / "host-root").write_text("x")
        (shared / "mapped").write_text("y")
        os.chown(shared / "mapped", subids + 5, subids + 5)
        config = "lxc.net.0.type = empty\n" + map_lines(subids)
        config += f"lxc.mount.entry = {shared} mnt none bind,create=dir 0 0\n"
        name = create(runtime, tmp_path, config)
        start(runtime, name)
        result = runtime("lxc-attach", "-n", name, "--", "sh", "-c", "ls -ln /mnt | tail -n +2")
        assert result.returncode == 0, result.stderr
        owners = {line.split()[-1]: line.split()[2] for line in result.stdout.splitlines()}
        assert owners == {"host-root": "65534", "mapped": "5"}
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# -- the console ---------------------------------------------------------------------------------


class Pty:
    """A command on a fresh pty's slave; the test drives the master."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        try:
            self.process = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        self.output = bytearray()

    def expect(self, needle: bytes, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen; got {bytes(self.output)!r}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    raise AssertionError(f"{needle!r} not seen; got {bytes(self.output)!r}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def test_console_tty_login_as_mapped_root(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    start(runtime, name)
    terminal = Pty([str(BIN / "lxc-console"), "-P", str(runtime.lxcpath), "-n", name, "-t", "1"], runtime.env)
    try:
        terminal.expect(b"Connected to tty 1")
        os.write(terminal.master, b"\r")
        terminal.expect(f"{name} login:".encode())
        os.write(terminal.master, b"root\r")
        time.sleep(0.5)
        os.write(terminal.master, b"echo ID_$(id -u)_$(stat -c %u $(tty))\r")
        terminal.expect(b"ID_0_0")
    finally:
        terminal.close()
    owners = runtime("lxc-attach", "-n", name, "--", "stat", "-c", "%u:%g", "/dev/console", "/dev/tty1")
    assert owners.stdout.split() == ["0:0", "0:0"], owners.stderr


# -- network ------------------------------------------------------------------------------------


def test_veth_container_pings_its_bridge(runtime: Cli, subids: int, tmp_path: Path) -> None:
    from pyroute2 import IPRoute

    tag = "un" + uuid.uuid4().hex[:6]
    bridge, pair = tag + "br", tag + "h0"
    subnet = random.randint(64, 254)
    with IPRoute() as ipr:
        ipr.link("add", ifname=bridge, kind="bridge")
    try:
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=bridge)[0]
            ipr.addr("add", index=index, address=f"10.214.{subnet}.1", prefixlen=24)
            ipr.link("set", index=index, state="up")
        config = (
            "lxc.net.0.type = veth\nlxc.net.0.flags = up\n"
            f"lxc.net.0.link = {bridge}\nlxc.net.0.veth.pair = {pair}\n"
            f"lxc.net.0.ipv4.address = 10.214.{subnet}.2/24\n" + map_lines(subids)
        )
        name = create(runtime, tmp_path, config)
        pid = start(runtime, name)
        assert status_ids(pid) == (subids, subids)
        ping = runtime("lxc-attach", "-n", name, "--", "ping", "-c1", "-W3", f"10.214.{subnet}.1")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        host = subprocess.run(
            ["/bin/busybox", "ping", "-c1", "-W3", f"10.214.{subnet}.2"], capture_output=True, timeout=20
        )
        assert host.returncode == 0
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    finally:
        with IPRoute() as ipr:
            for ifname in (pair, bridge):
                found = ipr.link_lookup(ifname=ifname)
                if found:
                    ipr.link("del", index=found[0])


# -- what is reported, and what is refused ------------------------------------------------------


def test_unprivileged_column_tells_what_applies(runtime: Cli, subids: int, tmp_path: Path) -> None:
    mapped = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids), "m")
    plain = create(runtime, tmp_path, "lxc.net.0.type = empty\n", "p")
    broken = create(runtime, tmp_path, "lxc.net.0.type = empty\n", "b")
    with open(runtime.lxcpath / broken / "config", "a") as handle:
        handle.write(f"lxc.idmap = u 0 {subids} {RANGE}\n")  # no gid map: never applied

    def column() -> dict[str, str]:
        rows = runtime("lxc-ls", "-f", "-F", "NAME,UNPRIVILEGED").stdout.splitlines()[1:]
        return dict(row.split() for row in rows)

    assert column() == {mapped: "true", plain: "false", broken: "false"}
    start(runtime, mapped)
    start(runtime, plain)
    assert column() == {mapped: "true", plain: "false", broken: "false"}


def _too_many(base: int) -> list[str]:
    return [f"u 0 {base} 10", f"g 0 {base} 10"] + [f"u {10 + i} {base + 10 + i} 1" for i in range(340)]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (lambda b: [f"u 0 {b} 65536", f"g 0 {b} 65536", f"u 100 {b + 70000} 10"], "overlaps"),
        (lambda b: [f"u 1 {b} 100", f"g 1 {b} 100"], "container uid 0 is not mapped"),
        (_too_many, "more than 340 uid map lines"),
        (lambda b: [f"u 0 {b} 65536"], "no gid map"),
    ],
    ids=["overlap", "no-root", "too-many", "no-gid"],
)
def test_bad_maps_refuse_the_start_and_leave_nothing(
    runtime: Cli, subids: int, tmp_path: Path, lines: Callable[[int], list[str]], reason: str
) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n", "x")
    config = runtime.lxcpath / name / "config"
    with open(config, "a") as handle:
        handle.write("".join(f"lxc.idmap = {line}\n" for line in lines(subids)))
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{config}:" in result.stderr and ": lxc.idmap: " in result.stderr, result.stderr
    assert reason in result.stderr, result.stderr
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert cgroups_of(name) == []


def test_unreachable_rootfs_names_the_directory(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    container_dir = runtime.lxcpath / name
    os.chown(container_dir, 0, 0)  # back to host root, 0770: the mapped root cannot search it
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert f"cannot search '{container_dir}'" in result.stderr, result.stderr
    assert "lxc.rootfs.path" in result.stderr
    assert cgroups_of(name) == []


def test_user_namespace_without_maps_is_refused(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.namespace.clone = user pid mnt\n")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert "lxc.namespace.clone: a user namespace needs lxc.idmap lines" in result.stderr
    assert cgroups_of(name) == []


def test_copy_keeps_the_mapped_ownership(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    copy = unique("c")
    result = runtime("lxc-copy", "-n", name, "-N", copy)
    assert result.returncode == 0, result.stderr
    for path in ("", "rootfs", "rootfs/bin/busybox", "rootfs/etc/passwd"):
        info = (runtime.lxcpath / copy / path).stat()
        assert (info.st_uid, info.st_gid) == (subids, subids), path
    pid = start(runtime, copy)
    assert status_ids(pid) == (subids, subids)


# -- lxc-usernsexec ---------------------------------------------------------------------------


def usernsexec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lxc-usernsexec"), *args], capture_output=True, text=True, timeout=60
    )


def test_usernsexec_maps_given_and_default_ranges(subids: int) -> None:
    given = usernsexec(
        "-m", f"b:0:{subids}:10", "--", "sh", "-c",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; exit 7",
    )  # fmt: skip
    assert given.returncode == 7, given.stderr
    lines = given.stdout.splitlines()
    assert lines[:2] == ["0", "0"]
    assert [line.split() for line in lines[2:4]] == [["0", str(subids), "10"]] * 2
    # the default: the caller's (root's) whole allotment in /etc/subuid and /etc/subgid
    default = usernsexec("--", "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map")
    assert default.returncode == 0, default.stderr
    assert [line.split() for line in default.stdout.splitlines()] == [["0", str(subids), str(RANGE)]] * 2
    # a file made inside belongs to the mapped root on the host
    shared = Path(tempfile.mkdtemp(prefix="trio-lxc-usernsexec-", dir="/tmp"))
    try:
        shared.chmod(0o777)
        made = usernsexec("-m", f"b:0:{subids}:10", "--", "touch", str(shared / "mine"))
        assert made.returncode == 0, made.stderr
        info = (shared / "mine").stat()
        assert (info.st_uid, info.st_gid) == (subids, subids)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_usernsexec_refuses_bad_maps_and_reports_exec_failures(subids: int) -> None:
    no_gid = usernsexec("-m", f"u:0:{subids}:10", "--", "true")
    assert no_gid.returncode == 1
    assert no_gid.stderr == "lxc-usernsexec: no gid map: a user namespace needs both 'u' and 'g' lines\n"
    malformed = usernsexec("-m", "x:0:1", "--", "true")
    assert malformed.returncode == 1 and "bad map 'x:0:1'" in malformed.stderr
    missing = usernsexec("-m", f"b:0:{subids}:10", "--", "/nonexistent/command")
    assert missing.returncode == 1
    assert missing.stderr == 'lxc-usernsexec: Failed to execute "/nonexistent/command": No such file or directory\n'


def test_usernsexec_without_an_allotment() -> None:
    if any(
        line.split(":")[0] in ("root", "0")
        for path in SUBID_FILES
        if os.path.exists(path)
        for line in Path(path).read_text().splitlines()
    ):
        pytest.skip("root has a range in /etc/subuid or /etc/subgid on this host")
    result = usernsexec("--", "true")
    assert result.returncode == 1
    assert result.stderr == "lxc-usernsexec: Failed to find subuid or subgid allocation\n"


# -- lxc.rootfs.options = idmap=... ---------------------------------------------------------------


def test_idmapped_rootfs_owned_by_host_root_boots(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n")  # host root owns it all
    config = runtime.lxcpath / name / "config"
    rootfs = runtime.lxcpath / name / "rootfs"
    assert (runtime.lxcpath / name).stat().st_mode & 0o007 == 0  # 0770: only an fd gets there
    with open(config, "a") as handle:
        handle.write(map_lines(subids) + "lxc.rootfs.options = ro,idmap=container\n")
    pid = start(runtime, name)
    assert status_ids(pid) == (subids, subids)
    inside = runtime("lxc-attach", "-n", name, "--", "sh", "-c", "stat -c %u:%g / /bin/busybox; touch /x")
    assert inside.stdout.split() == ["0:0", "0:0"], inside.stderr  # disk 0 is the container's root
    assert "Read-only file system" in inside.stderr  # ro applied to the idmapped mount
    mountinfo = runtime("lxc-attach", "-n", name, "--", "cat", "/proc/self/mountinfo").stdout
    root = [line.split() for line in mountinfo.splitlines() if line.split()[4] == "/"][0]
    assert "idmapped" in root[5] and root[5].startswith("ro,"), root
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    with open(config, "a") as handle:
        handle.write("lxc.rootfs.options = idmap=container\n")
    start(runtime, name)
    made = runtime("lxc-attach", "-n", name, "--", "touch", "/root/made")
    assert made.returncode == 0, made.stderr
    info = (rootfs / "root/made").stat()
    assert (info.st_uid, info.st_gid) == (0, 0)  # written through the map: on disk, 0
    assert (rootfs / "bin/busybox").stat().st_uid == 0  # nothing was chowned


def test_idmapped_rootfs_through_another_user_namespace(runtime: Cli, subids: int, tmp_path: Path) -> None:
    owner = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids), "o")
    owner_pid = start(runtime, owner)
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n")
    with open(runtime.lxcpath / name / "config", "a") as handle:
        handle.write(map_lines(subids) + f"lxc.rootfs.options = idmap=/proc/{owner_pid}/ns/user\n")
    result = runtime("lxc-execute", "-n", name, "--", "stat", "-c", "%u:%g", "/bin/busybox")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0:0"
    bad = runtime("lxc-execute", "-n", name, "-s", "lxc.rootfs.options=idmap=/nonexistent/ns", "--", "true")
    assert bad.returncode == 1
    assert "lxc.rootfs.options: cannot make an idmapped mount" in bad.stderr, bad.stderr
    assert cgroups_of(name) == []


def test_idmapped_rootfs_without_maps_is_refused(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.rootfs.options = idmap=container\n")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert "lxc.rootfs.options: idmap=container needs lxc.idmap" in result.stderr, result.stderr
    assert cgroups_of(name) == []


# -- lxc.namespace.keep / share with user ---------------------------------------------------------


def test_keeping_the_user_namespace_with_maps_is_refused(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    result = runtime("lxc-execute", "-n", name, "-s", "lxc.namespace.keep=user", "--", "true")
    assert result.returncode == 1
    assert "lxc.namespace.keep: lxc.idmap needs a user namespace, so 'user' cannot be kept" in result.stderr
    assert cgroups_of(name) == []


def test_sharing_a_running_containers_user_namespace(runtime: Cli, subids: int, tmp_path: Path) -> None:
    first = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids), "a")
    second = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids), "b")
    pid = start(runtime, first)
    result = runtime(
        "lxc-execute", "-n", second, "-s", f"lxc.namespace.share.user={pid}", "--",
        "sh", "-c", "id -u; readlink /proc/self/ns/user",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", os.readlink(f"/proc/{pid}/ns/user")]


def test_macvlan_in_a_user_namespace(runtime: Cli, subids: int, tmp_path: Path) -> None:
    from pyroute2 import IPRoute

    parent = "un" + uuid.uuid4().hex[:6] + "a"
    with IPRoute() as ipr:
        ipr.link("add", ifname=parent, kind="veth", peer={"ifname": parent[:-1] + "b"})
    try:
        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=parent)[0], state="up")
        config = (
            f"lxc.net.0.type = macvlan\nlxc.net.0.link = {parent}\nlxc.net.0.flags = up\n"
            "lxc.net.0.ipv4.address = 10.215.7.2/24\n" + map_lines(subids)
        )
        name = create(runtime, tmp_path, config)
        result = runtime("lxc-execute", "-n", name, "--", "sh", "-c", "ip -o -4 addr show eth0; id -u")
        assert result.returncode == 0, result.stderr
        assert "10.215.7.2/24" in result.stdout and result.stdout.split()[-1] == "0"
    finally:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=parent)
            if found:
                ipr.link("del", index=found[0])


# -- shifting a tree (lxc-create) -------------------------------------------------------------------


def test_shift_tree_keeps_setuid_bits_and_leaves_symlink_targets_and_unmapped_ids(tmp_path: Path) -> None:
    from runtime.userns.chown import shift_tree

    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    tool = root / "bin/tool"
    tool.write_text("x")
    tool.chmod(0o4755)
    outside = tmp_path / "outside"
    outside.write_text("host")
    (root / "link").symlink_to(outside)
    far = root / "far"
    far.write_text("y")
    os.chown(far, 70000, 70000)  # beyond the map: left alone
    maps = idmaps.validate([("u 0 500000 65536", None), ("g 0 600000 65536", None)])
    assert maps is not None
    assert shift_tree(str(root), maps) == 4  # root, bin, tool, link
    assert (tool.stat().st_uid, tool.stat().st_gid) == (500000, 600000)
    assert tool.stat().st_mode & 0o7777 == 0o4755
    assert os.lstat(root / "link").st_uid == 500000 and outside.stat().st_uid == 0
    assert far.stat().st_uid == 70000


def test_create_accepts_lxc_template_mapping_options(runtime: Cli, subids: int, tmp_path: Path) -> None:
    conf = tmp_path / "m.conf"
    conf.write_text("lxc.net.0.type = empty\n" + map_lines(subids))
    name = unique("t")
    result = runtime(
        "lxc-create", "-n", name, "-t", "busybox", "-f", str(conf), "--", "--mapped-uid", "0", "--mapped-gid", "0"
    )
    assert result.returncode == 0, result.stderr
    assert (runtime.lxcpath / name / "rootfs").stat().st_uid == subids


def test_mapped_root_manages_its_cgroup_subtree(runtime: Cli, subids: int, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    result = runtime("lxc-start", "-n", name, "-s", "lxc.mount.auto=cgroup:rw:force proc:mixed sys:ro")
    assert result.returncode == 0, result.stderr
    nested = runtime(
        "lxc-attach", "-n", name, "--", "sh", "-c",
        "mkdir /sys/fs/cgroup/unified/sub /sys/fs/cgroup/memory/sub"
        " && echo $$ > /sys/fs/cgroup/unified/sub/cgroup.procs && grep '^0::' /proc/self/cgroup",
    )  # fmt: skip
    assert nested.returncode == 0, nested.stderr
    assert nested.stdout.strip() == "0::/sub"
    for hierarchy in ("unified", "memory"):
        sub = Path(f"/sys/fs/cgroup/{hierarchy}/lxc.payload.{name}/sub")
        assert sub.stat().st_uid == subids
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    assert cgroups_of(name) == []  # the container's own sub-cgroups went with it


def test_usernsexec_by_a_user_goes_through_newuidmap(subids: int) -> None:
    """A caller that is not root: its /etc/subuid range, written by newuidmap/newgidmap."""
    if not (shutil.which("newuidmap") and shutil.which("newgidmap") and shutil.which("setpriv")):
        pytest.skip("needs newuidmap, newgidmap and setpriv")
    theirs = f"nobody:{subids + 100}:10\n"
    for path in SUBID_FILES:
        with open(path, "a") as handle:
            handle.write(theirs)
    try:
        _usernsexec_as_nobody(subids)
    finally:
        for path in SUBID_FILES:
            kept = [line for line in Path(path).read_text().splitlines(keepends=True) if line != theirs]
            Path(path).write_text("".join(kept))


def _usernsexec_as_nobody(subids: int) -> None:
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(BIN / "lxc-usernsexec")]
    result = subprocess.run(
        [*as_nobody, "--", "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0"
    assert [line.split() for line in lines[1:]] == [["0", str(subids + 100), "10"]] * 2
    refused = subprocess.run(
        [*as_nobody, "-m", f"b:0:{subids}:10", "--", "true"], capture_output=True, text=True, timeout=60
    )  # root's range, not nobody's: newuidmap refuses
    assert refused.returncode == 1
    assert refused.stderr.startswith("lxc-usernsexec: Failed to write the ")
