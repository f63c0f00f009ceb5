"""containerd runs containers through `trio-lxc-oci` as through runc (the reference).

Each test starts Debian's containerd on a private socket, root and state (under
the test's temporary directory), imports a busybox image made by hand
(tests/oci_image.py) and drives it with `ctr`, with `--runc-binary` set to our
command or to /usr/sbin/runc: the same checks must pass with both. Everything
is stopped and removed afterwards (tasks, containerd, its shims, the trio-lxc
daemon, the cgroups of the test's containerd namespace, /run/containerd if the
test made it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci_image import build

BIN = Path(sys.executable).parent
OURS = str(BIN / "trio-lxc-oci")
RUNC = "/usr/sbin/runc"
CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
IMAGE = "docker.io/library/triolxc-busybox:test"
MEMORY = 64 * 1024 * 1024

pytestmark = pytest.mark.skipif(
    CONTAINERD is None or CTR is None or not os.path.exists(RUNC),
    reason="containerd, ctr and runc are not installed (apt-get install containerd runc)",
)

CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _pids_mentioning(text: str) -> list[int]:
    return [
        int(p) for p in os.listdir("/proc")
        if p.isdigit() and int(p) != os.getpid() and text.encode() in _cmdline(int(p))
    ]  # fmt: skip


def _stop(pids: list[int]) -> None:
    """SIGKILL and reap (they are ours: pytest is a subreaper)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


class Containerd:
    """A private containerd and a `ctr` bound to it, in one containerd namespace."""

    def __init__(self, base: Path, runtime: str) -> None:
        self.base = base
        self.sock = str(base / "ctd.sock")
        self.namespace = "t" + uuid.uuid4().hex[:8]
        self.runtime = runtime
        self.runc_root = str(base / "runc-root")
        self.env = dict(os.environ)
        self.env["TRIO_LXC_RUNDIR"] = str(base / "trio-run")
        self.env["TRIO_LXC_DAEMON_IDLE"] = "2"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.base / "containerd.toml"
        config.write_text(
            CONFIG.format(root=self.base / "root", state=self.base / "state", sock=self.sock)
        )
        self.log = open(self.base / "containerd.log", "wb")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            [str(CONTAINERD), "--config", str(config)], stdout=self.log, stderr=subprocess.STDOUT,
            env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError("containerd did not come up: " + (self.base / "containerd.log").read_text())

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(CTR), "--address", self.sock, "--namespace", self.namespace, *args],
            capture_output=True, text=True, timeout=timeout, env=self.env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"ctr {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def run_args(self) -> list[str]:
        return ["--runc-binary", self.runtime, "--runc-root", self.runc_root,
                "--fifo-dir", str(self.base / "fifo")]  # fmt: skip

    def tasks(self) -> dict[str, tuple[str, str]]:
        """ctr task ls: {id: (pid, status)}."""
        rows = self.ctr("task", "ls").stdout.splitlines()[1:]
        return {r.split()[0]: (r.split()[1], r.split()[2]) for r in rows if r.strip()}

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for task in self.tasks():
                self.ctr("task", "kill", "-s", "SIGKILL", task, check=False)
                self.ctr("task", "delete", "--force", task, check=False)
            for line in self.ctr("container", "ls", "-q", check=False).stdout.split():
                self.ctr("container", "delete", line, check=False)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
        _stop(_pids_mentioning(self.sock))  # shims
        _stop_trio_daemon(str(self.base))
        for mountpoint in _mounts_below(str(self.base)):
            subprocess.run(["umount", "-l", mountpoint], check=False)
        for controller in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", controller, self.namespace)
            if os.path.isdir(top):
                for directory, _dirs, _files in sorted(os.walk(top), reverse=True):
                    try:
                        os.rmdir(directory)
                    except OSError:
                        pass


def _stop_trio_daemon(base: str) -> None:
    """The root's daemon goes idle soon after its last container; reap it (and its
    spawner), killing what is still there after a grace period."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _pids_mentioning(base):
        for pid in _pids_mentioning(base):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.2)
    _stop(_pids_mentioning(base))


def _mounts_below(path: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4] for line in handle]
    return sorted((p for p in points if p.startswith(path)), reverse=True)


@pytest.fixture(params=[OURS, RUNC], ids=["trio-lxc-oci", "runc"])
def containerd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Containerd]:
    made_run_dir = not os.path.exists("/run/containerd")
    base = Path(f"/tmp/ctd-{uuid.uuid4().hex[:8]}")  # short: socket paths
    base.mkdir()
    daemon = Containerd(base, request.param)
    try:
        daemon.start()
        archive = base / "image.tar"
        build(str(archive), IMAGE)
        daemon.ctr("image", "import", str(archive))
        yield daemon
    finally:
        daemon.cleanup()
        shutil.rmtree(base, ignore_errors=True)
        if made_run_dir:
            shutil.rmtree("/run/containerd", ignore_errors=True)


def _cgroup_dir(pid: int, controller: str) -> str:
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return f"/sys/fs/cgroup/{controller}{path}"
    raise AssertionError(f"no {controller} cgroup for {pid}")


def _wait_status(daemon: Containerd, task: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.tasks().get(task, ("", ""))[1] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{task} never became {status}: {daemon.tasks()}")


def test_run_rm_prints_output_and_returns_the_exit_code(containerd: Containerd) -> None:
    result = containerd.ctr(
        "run", "--rm", *containerd.run_args(), IMAGE, "r" + uuid.uuid4().hex[:6],
        "sh", "-c", "echo hello from $$; exit 3", check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert result.stdout == "hello from 1\n"  # pid 1 of its own pid namespace
    assert containerd.tasks() == {}
    assert os.listdir(os.path.join(containerd.runc_root, containerd.namespace)) == []


def test_detached_task_exec_ps_pause_resume_kill_delete(containerd: Containerd) -> None:
    task = "d" + uuid.uuid4().hex[:6]
    containerd.ctr(
        "run", "-d", "--memory-limit", str(MEMORY), *containerd.run_args(), IMAGE, task, "sleep", "1000"
    )
    assert containerd.tasks()[task][1] == "RUNNING"
    # exec: the new process is in the container (it sees the task's pid 1)
    result = containerd.ctr(
        "task", "exec", "--fifo-dir", str(containerd.base / "fifo"), "--exec-id", "e1", task,
        "sh", "-c", "cat /proc/1/cmdline; echo; echo $$",
    )  # fmt: skip
    first, second = result.stdout.splitlines()
    assert first == "sleep\x001000\x00"
    assert int(second) > 1
    # ps: the container's processes, as host pids
    rows = containerd.ctr("task", "ps", task).stdout.splitlines()[1:]
    pids = [int(row.split()[0]) for row in rows]
    assert len(pids) == 1
    init = pids[0]
    with open(f"/proc/{init}/cmdline", "rb") as handle:
        assert handle.read() == b"sleep\x001000\x00"
    assert os.readlink(f"/proc/{init}/ns/pid") != os.readlink("/proc/self/ns/pid")
    memory_dir = _cgroup_dir(init, "memory")
    with open(os.path.join(memory_dir, "memory.limit_in_bytes"), encoding="ascii") as handle:
        assert int(handle.read()) == MEMORY
    if containerd.runtime == OURS:  # an ordinary container of the root's daemon
        ls = subprocess.run(
            [str(BIN / "lxc-ls"), "-P", os.path.join(containerd.runc_root, containerd.namespace), "-1", "--running"],
            capture_output=True, text=True, env=containerd.env, check=False,
        )  # fmt: skip
        assert ls.stdout.split() == [task], ls.stderr
    containerd.ctr("task", "pause", task)
    assert containerd.tasks()[task][1] == "PAUSED"
    containerd.ctr("task", "resume", task)
    assert containerd.tasks()[task][1] == "RUNNING"
    containerd.ctr("task", "kill", "-s", "SIGKILL", task)
    _wait_status(containerd, task, "STOPPED")
    containerd.ctr("task", "delete", task)
    containerd.ctr("container", "delete", task)
    # nothing left: process, cgroup, mount, runtime state
    assert not os.path.exists(f"/proc/{init}")
    assert not os.path.exists(memory_dir)
    assert [m for m in _mounts_below(str(containerd.base)) if task in m] == []
    assert os.listdir(os.path.join(containerd.runc_root, containerd.namespace)) == []


def test_seccomp_and_no_new_privileges_reach_the_process(containerd: Containerd) -> None:
    result = containerd.ctr(
        "run", "--rm", "--seccomp", *containerd.run_args(), IMAGE, "s" + uuid.uuid4().hex[:6],
        "grep", "-E", "^(Seccomp|NoNewPrivs|CapBnd):", "/proc/self/status",
    )  # fmt: skip
    lines = dict(line.split(":\t") for line in result.stdout.splitlines())
    assert lines["Seccomp"] == "2"  # filtered (containerd's default profile)
    assert lines["NoNewPrivs"] == "1"
    assert lines["CapBnd"] == "00000000a80425fb"  # containerd's default capability set


@pytest.mark.skipif(shutil.which("script") is None, reason="script (util-linux) gives ctr -t a terminal")
def test_run_with_a_terminal_uses_the_console_socket(containerd: Containerd) -> None:
    command = [
        str(CTR), "--address", containerd.sock, "--namespace", containerd.namespace, "run", "-t",
        "--rm", *containerd.run_args(), IMAGE, "t" + uuid.uuid4().hex[:6],
        "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo on a terminal; exit 4",
    ]  # fmt: skip
    result = subprocess.run(
        ["script", "-qec", shlex.join(command), "/dev/null"], capture_output=True, text=True,
        timeout=120, env=containerd.env, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "on a terminal" in result.stdout


def test_user_namespace_from_uid_and_gid_maps(containerd: Containerd) -> None:
    result = containerd.ctr(
        "run", "--rm", "--uidmap", "0:200000:65536", "--gidmap", "0:200000:65536",
        *containerd.run_args(), IMAGE, "u" + uuid.uuid4().hex[:6],
        "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; echo x > /tmp/f && ls -ln /tmp/f",
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert [line.split() for line in lines[:2]] == [["0", "200000", "65536"]] * 2
    assert lines[2].split()[2:4] == ["0", "0"]  # container root owns what it writes
