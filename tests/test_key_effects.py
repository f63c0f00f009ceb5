"""Keys the daemon applies, on real busybox containers through the lxc-* commands.

lxc.signal.stop (what lxc-stop -k sends), lxc.log.file/level (the container's own
log), lxc.namespace.share.* naming a running container, lxc.net.N.veth.n_rxqueues/
n_txqueues, lxc.mount.auto = cgroup2:force, lxc.rootfs.managed = 0 (lxc-destroy
keeps the rootfs), monitor keys refused, the LSM warning of lxc-execute and its
daemon log entry, the own netns of a config without network keys, and a
symlinked /proc refused with nothing left.
"""

from __future__ import annotations

import glob
import os
import time
import uuid
from pathlib import Path

import pytest
from conftest import Cli

from runtime.client.rundir import records_dir, run_dir
from runtime.config import unsupported

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"), reason="needs root and busybox-static"
)


def unique(prefix: str = "k") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def create(runtime: Cli, tmp_path: Path, extra: str = "lxc.net.0.type = empty\n") -> str:
    name = unique()
    conf = tmp_path / f"{name}.conf"
    conf.write_text(extra)
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


def wait_state(runtime: Cli, name: str, state: str, timeout: float = 15) -> None:
    result = runtime("lxc-wait", "-n", name, "-s", state, "-t", str(timeout))
    assert result.returncode == 0, f"{name} not {state}: {result.stderr}"


def assert_nothing_left(runtime: Cli, name: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}"):
        time.sleep(0.05)
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "STOPPED"
    assert glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}") == []
    assert glob.glob(f"/sys/fs/cgroup/lxc.payload.{name}") == []
    assert not Path(records_dir(str(runtime.lxcpath)), f"{name}.json").exists()


def init_pid(runtime: Cli, name: str) -> int:
    return int(runtime("lxc-info", "-n", name, "-pH").stdout.strip())


# -- lxc.signal.stop ---------------------------------------------------------------


def test_signal_stop_is_what_a_hard_stop_sends(runtime: Cli, tmp_path: Path) -> None:
    """LXC's stop command sends lxc.signal.stop to the init (SIGKILL when unset)."""
    name = create(runtime, tmp_path)
    rootfs = runtime.lxcpath / name / "rootfs"
    script = "trap 'echo got-usr2 > /stop.txt; exit 7' USR2; while :; do sleep 0.1; done"
    result = runtime(
        "lxc-start", "-n", name, "-s", "lxc.signal.stop=SIGUSR2", "--", "/bin/sh", "-c", script
    )
    assert result.returncode == 0, result.stderr
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr
    wait_state(runtime, name, "STOPPED")
    assert (rootfs / "stop.txt").read_text() == "got-usr2\n"
    assert_nothing_left(runtime, name)


def test_hard_stop_without_signal_stop_kills(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    script = "trap '' USR2 TERM INT HUP; while :; do sleep 0.1; done"
    assert runtime("lxc-start", "-n", name, "--", "/bin/sh", "-c", script).returncode == 0
    result = runtime("lxc-stop", "-n", name, "-k")
    assert result.returncode == 0, result.stderr
    assert_nothing_left(runtime, name)


# -- lxc.log.file / lxc.log.level ----------------------------------------------------


def test_log_file_gets_the_containers_lines(runtime: Cli, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "c.log"
    log.parent.mkdir()
    other = create(runtime, tmp_path)
    name = create(runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.log.file = {log}\nlxc.log.level = INFO\n")
    try:
        assert runtime("lxc-start", "-n", other).returncode == 0
        assert runtime("lxc-start", "-n", name).returncode == 0
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
        wait_state(runtime, name, "STOPPED")
    finally:
        runtime("lxc-stop", "-n", other, "-k")
    text = log.read_text()
    for state in ("RUNNING", "STOPPING", "STOPPED"):
        assert f"{name}: {state}" in text, text
    assert other not in text  # another container's lines stay out
    assert os.stat(log).st_mode & 0o777 == 0o600


def test_log_level_filters(runtime: Cli, tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    name = create(runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.log.file = {log}\n")
    assert runtime("lxc-start", "-n", name).returncode == 0  # default ERROR: nothing to say
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    wait_state(runtime, name, "STOPPED")
    assert log.read_text() == ""


def test_log_file_through_a_symlink_is_refused(runtime: Cli, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "link.log"
    link.symlink_to(victim)
    name = create(runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.log.file = {link}\n")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"lxc.log.file: cannot open '{link}': Too many levels of symbolic links")
    assert victim.read_text() == "precious\n"
    assert_nothing_left(runtime, name)


def test_log_file_below_a_symlinked_directory_is_refused(runtime: Cli, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    linked = tmp_path / "linked"
    linked.symlink_to(real)
    log = linked / "c.log"
    name = create(runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.log.file = {log}\n")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"lxc.log.file: cannot open '{log}': Too many levels of symbolic links")
    assert list(real.iterdir()) == []
    assert_nothing_left(runtime, name)


# -- lxc.namespace.share.* by container name -------------------------------------------


def test_share_by_name_joins_the_running_containers_namespace(runtime: Cli, tmp_path: Path) -> None:
    first = create(runtime, tmp_path)
    second = create(runtime, tmp_path, "lxc.net.0.type = empty\n")
    try:
        assert runtime("lxc-start", "-n", first).returncode == 0
        result = runtime(
            "lxc-start", "-n", second, "-s", f"lxc.namespace.share.net={first}",
            "-s", f"lxc.namespace.share.uts={first}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        for ns in ("net", "uts"):
            assert os.readlink(f"/proc/{init_pid(runtime, second)}/ns/{ns}") == os.readlink(
                f"/proc/{init_pid(runtime, first)}/ns/{ns}"
            )
        assert os.readlink(f"/proc/{init_pid(runtime, second)}/ns/ipc") != os.readlink(
            f"/proc/{init_pid(runtime, first)}/ns/ipc"
        )
    finally:
        runtime("lxc-stop", "-n", second, "-k")
        runtime("lxc-stop", "-n", first, "-k")


def test_share_by_name_of_a_stopped_container_is_refused(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    result = runtime("lxc-start", "-n", name, "-s", "lxc.namespace.share.net=nosuchbox")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith(
        "lxc.namespace.share.net: container 'nosuchbox' is not running"
    ), lines
    assert_nothing_left(runtime, name)


# -- lxc.net.N.veth.n_rxqueues / n_txqueues ------------------------------------------------


def test_veth_queues(runtime: Cli, tmp_path: Path) -> None:
    name = create(
        runtime, tmp_path,
        "lxc.net.0.type = veth\nlxc.net.0.name = eth0\nlxc.net.0.veth.n_rxqueues = 3\n"
        "lxc.net.0.veth.n_txqueues = 2\n",
    )  # fmt: skip
    try:
        assert runtime("lxc-start", "-n", name).returncode == 0
        host_side = runtime("lxc-info", "-n", name).stdout
        link = next(line.split()[-1] for line in host_side.splitlines() if line.startswith("Link:"))
        expected = ["rx-0", "rx-1", "rx-2", "tx-0", "tx-1"]
        assert sorted(os.listdir(f"/sys/class/net/{link}/queues")) == expected
        inside = runtime("lxc-attach", "-n", name, "--", "ls", "/sys/class/net/eth0/queues")
        assert inside.stdout.split() == expected, inside.stderr
    finally:
        runtime("lxc-stop", "-n", name, "-k")
    assert_nothing_left(runtime, name)


# -- lxc.mount.auto = cgroup2:force --------------------------------------------------------


@pytest.mark.skipif(not glob.glob("/sys/fs/cgroup/unified") and not os.path.exists(
    "/sys/fs/cgroup/cgroup.controllers"), reason="no cgroup2 hierarchy")  # fmt: skip
def test_cgroup2_force_mounts_the_containers_cgroup2(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    config = runtime.lxcpath / name / "config"
    text = config.read_text().replace("cgroup:mixed proc:mixed sys:ro", "proc:mixed sys:ro cgroup2:force")
    assert "cgroup2:force" in text
    config.write_text(text)
    try:
        result = runtime("lxc-start", "-n", name)
        assert result.returncode == 0, result.stderr
        mounts = runtime("lxc-attach", "-n", name, "--", "cat", "/proc/self/mounts").stdout
        fstypes = [line.split()[2] for line in mounts.splitlines() if line.split()[1] == "/sys/fs/cgroup"]
        assert fstypes == ["cgroup2"], mounts
        procs = runtime("lxc-attach", "-n", name, "--", "cat", "/sys/fs/cgroup/cgroup.procs").stdout
        assert "1" in procs.split()  # the container's own cgroup is the root it sees
    finally:
        runtime("lxc-stop", "-n", name, "-k")


# -- lxc.rootfs.managed ------------------------------------------------------------------


@pytest.mark.parametrize(("managed", "kept"), [("0", True), ("1", False)])
def test_destroy_keeps_an_unmanaged_rootfs(runtime: Cli, tmp_path: Path, managed: str, kept: bool) -> None:
    name = create(runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.rootfs.managed = {managed}\n")
    rootfs = runtime.lxcpath / name / "rootfs"
    assert (rootfs / "bin" / "busybox").exists()
    result = runtime("lxc-destroy", "-n", name)
    assert result.returncode == 0, result.stderr
    assert not (runtime.lxcpath / name / "config").exists()
    assert (rootfs / "bin" / "busybox").exists() is kept
    assert name not in runtime("lxc-ls", "-1").stdout.split()


# -- refused and warned keys, as the user sees them ---------------------------------------


@pytest.mark.parametrize(
    "define",
    ["lxc.monitor.unshare=1", "lxc.monitor.signal.pdeath=SIGTERM", "lxc.cgroup.dir.monitor=mon"],
)
def test_monitor_keys_are_refused_naming_the_key(runtime: Cli, tmp_path: Path, define: str) -> None:
    name = create(runtime, tmp_path)
    result = runtime("lxc-start", "-n", name, "-s", define)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    key = define.split("=")[0]
    assert len(lines) == 1 and f"{key}: " in lines[0] and "no per-container monitor" in lines[0], lines
    assert_nothing_left(runtime, name)


@pytest.mark.skipif("apparmor" in unsupported.enabled_lsms(), reason="this host enforces AppArmor")
def test_lsm_key_warns_once_from_execute_and_in_the_daemon_log(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    result = runtime("lxc-execute", "-n", name, "-s", "lxc.apparmor.profile=generated", "--", "true")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "lxc.apparmor.profile" in line]
    assert len(warnings) == 1 and "AppArmor is not enabled" in warnings[0], result.stderr
    daemon_log = Path(run_dir(str(runtime.lxcpath)), "daemon.log").read_text()
    assert f"{name}: lxc.apparmor.profile: AppArmor is not enabled" in daemon_log


def test_execute_without_network_keys_has_only_lo(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.uts.name = nonet\n")
    script = "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '; readlink /proc/self/ns/net"
    result = runtime("lxc-execute", "-n", name, "--", "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    *interfaces, namespace = result.stdout.split()
    assert interfaces == ["lo"] and namespace != os.readlink("/proc/self/ns/net")


def test_symlinked_proc_is_refused_with_nothing_left(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path)
    rootfs = runtime.lxcpath / name / "rootfs"
    (rootfs / "proc").rmdir()
    (rootfs / "proc").symlink_to("/tmp")
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 1
    assert "/proc in the rootfs is a symlink" in result.stderr, result.stderr
    assert_nothing_left(runtime, name)


# -- lxc.ephemeral ---------------------------------------------------------------------


def test_ephemeral_container_is_destroyed_when_it_stops(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.ephemeral = 1\n")
    assert runtime("lxc-start", "-n", name).returncode == 0
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in os.listdir(runtime.lxcpath) if name in p]:
        time.sleep(0.05)
    assert not (runtime.lxcpath / name).exists()
    assert name not in runtime("lxc-ls", "-1").stdout.split()
    assert [p for p in os.listdir(runtime.lxcpath) if name in p] == []


def test_ephemeral_container_that_failed_to_start_stays(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.ephemeral = 1\n")
    result = runtime("lxc-start", "-n", name, "-s", "lxc.namespace.share.net=nosuchbox")
    assert result.returncode == 1
    time.sleep(0.5)
    assert (runtime.lxcpath / name / "config").exists()


# -- lxc.log.syslog ---------------------------------------------------------------------


@pytest.mark.skipif(os.path.exists("/dev/log"), reason="a syslog daemon listens on /dev/log")
def test_log_syslog_sends_the_containers_lines(runtime: Cli, tmp_path: Path) -> None:
    """Without a syslog socket the start is refused naming the key; with one (the
    test plays syslogd on /dev/log) the container's lines arrive with the facility."""
    import socket

    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.log.syslog = local3\nlxc.log.level = INFO\n")
    refused = runtime("lxc-start", "-n", name)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("lxc.log.syslog: cannot reach syslog at /dev/log: No such file or directory")
    assert_nothing_left(runtime, name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        server.bind("/dev/log")
        server.settimeout(10)
        assert runtime("lxc-start", "-n", name).returncode == 0
        message = server.recv(4096).decode()
        local3_info = 19 * 8 + 6
        assert message.startswith(f"<{local3_info}>") and f"{name}: RUNNING" in message, message
    finally:
        runtime("lxc-stop", "-n", name, "-k")
        server.close()
        os.unlink("/dev/log")


# -- lxc-attach takes the init's personality ----------------------------------------------


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="an x86_64 host")
def test_attach_runs_under_the_containers_arch(runtime: Cli, tmp_path: Path) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.arch = i686\n")
    try:
        assert runtime("lxc-start", "-n", name).returncode == 0
        inside = runtime("lxc-attach", "-n", name, "--", "uname", "-m")
        assert inside.stdout.strip() == "i686", inside.stderr
        assert Path(f"/proc/{init_pid(runtime, name)}/personality").read_text().strip() == "00000008"
        override = runtime("lxc-attach", "-n", name, "-a", "x86_64", "--", "uname", "-m")
        assert override.stdout.strip() == "x86_64", override.stderr
        bad = runtime("lxc-attach", "-n", name, "-a", "sparc", "--", "uname", "-m")
        assert bad.returncode == 1 and bad.stderr.strip().endswith("Invalid architecture specified: sparc")
    finally:
        runtime("lxc-stop", "-n", name, "-k")


# -- lxc.init.cmd through the Python API ------------------------------------------------


def test_python_api_start_runs_lxc_init_cmd(runtime: Cli, tmp_path: Path) -> None:
    """The API starts what lxc-start starts: lxc.init.cmd (here from a define), else /sbin/init."""
    import trio

    from runtime.api import Runtime

    name = create(runtime, tmp_path)
    rootfs = runtime.lxcpath / name / "rootfs"
    (rootfs / "init.sh").write_text("#!/bin/sh\necho from-init-cmd > /ran.txt\nexec sleep 1000\n")
    (rootfs / "init.sh").chmod(0o755)

    async def start() -> int:
        return await Runtime(str(runtime.lxcpath)).start(name, defines=["lxc.init.cmd=/init.sh"])

    try:
        pid = trio.run(start)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (rootfs / "ran.txt").exists():
            time.sleep(0.05)
        assert (rootfs / "ran.txt").read_text() == "from-init-cmd\n"
        assert pid == init_pid(runtime, name)
    finally:
        runtime("lxc-stop", "-n", name, "-k")


def test_log_file_goes_on_after_a_daemon_crash(runtime: Cli, tmp_path: Path) -> None:
    from conftest import kill_daemon

    log = tmp_path / "c.log"
    name = create(runtime, tmp_path, f"lxc.net.0.type = empty\nlxc.log.file = {log}\nlxc.log.level = INFO\n")
    assert runtime("lxc-start", "-n", name).returncode == 0
    kill_daemon(runtime)
    assert runtime("lxc-info", "-n", name, "-sH").stdout.strip() == "RUNNING"  # re-adopted
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
    wait_state(runtime, name, "STOPPED")
    text = log.read_text()
    # STOPPING and STOPPED come from the daemon that re-adopted the container.
    assert f"{name}: STOPPING" in text and text.rstrip().endswith(f"{name}: STOPPED"), text


def test_autostart_keys_start_without_a_word(runtime: Cli, tmp_path: Path) -> None:
    """lxc.start.* are lxc-autostart's (tests/test_autostart.py): lxc-start takes them silently."""
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.start.delay = 3\n")
    try:
        result = runtime("lxc-start", "-n", name)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", result.stderr
    finally:
        runtime("lxc-stop", "-n", name, "-k")
