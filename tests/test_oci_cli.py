"""`trio-lxc-oci` driven directly, as a shim would: real containers from a bundle.

The bundle is made here (busybox-static and its applet links in `rootfs/`, the
config.json of `trio-lxc-oci spec`, adjusted per test). pytest is a subreaper,
so the keeper of each container (the pid in --pid-file) becomes our child when
`create` exits, and its exit status is the container's, as a shim sees it.
"""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.oci_info import default_spec

BIN = Path(sys.executable).parent
OCI = str(BIN / "trio-lxc-oci")
APPLETS = ("sh", "echo", "cat", "sleep", "hostname", "grep", "ls", "id", "true")


class Oci:
    """The command on a private root, and the containers made, for the clean-up."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.ids: list[str] = []
        self.keepers: list[int] = []

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OCI, "--root", str(self.root), *args], capture_output=True, text=True,
            env=self.env, input=input, timeout=timeout, check=False,
        )  # fmt: skip

    def create(self, bundle: Path, stdout: Path | None = None, *extra: str) -> tuple[str, int]:
        """create a new container (stdout to a file); (id, keeper pid)."""
        cid = "o" + uuid.uuid4().hex[:8]
        self.ids.append(cid)
        pid_file = bundle / f"{cid}.pid"
        # The container's stdio is create's: files, not pipes (a pipe would stay open
        # as long as the container runs).
        errors = bundle / f"{cid}.err"
        out = open(stdout or os.devnull, "wb")  # noqa: SIM115 - closed below
        err = open(errors, "wb")  # noqa: SIM115 - closed below
        try:
            result = subprocess.run(
                [OCI, "--root", str(self.root), "create", "--bundle", str(bundle), "--pid-file",
                 str(pid_file), *extra, cid],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env, timeout=60,
                check=False,
            )  # fmt: skip
        finally:
            out.close()
            err.close()
        assert result.returncode == 0, errors.read_text()
        keeper = int(pid_file.read_text())
        self.keepers.append(keeper)
        return cid, keeper

    def status(self, cid: str) -> str:
        result = self("state", cid)
        assert result.returncode == 0, result.stderr
        return str(json.loads(result.stdout)["status"])

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid)
        deadline = time.monotonic() + 15
        for keeper in self.keepers:
            try:
                while not os.waitpid(keeper, os.WNOHANG)[0]:
                    if time.monotonic() > deadline:
                        os.kill(keeper, 9)  # a bug left it waiting: the test has failed already
                    time.sleep(0.05)
            except ChildProcessError:
                pass
        self("--version")  # nothing: the daemon goes idle by itself (TRIO_LXC_DAEMON_IDLE)


def reap(keeper: int) -> int:
    """The keeper's exit status: the container's, as the shim would see it."""
    _, status = os.waitpid(keeper, 0)
    return os.waitstatus_to_exitcode(status)


def make_bundle(path: Path, args: list[str], **changes: object) -> Path:
    rootfs = path / "rootfs"
    for directory in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    (rootfs / "bin" / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (rootfs / "bin" / "busybox").chmod(0o755)
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    config = default_spec()
    process = config["process"]
    assert isinstance(process, dict)
    process["args"] = args
    process["terminal"] = False
    process["env"] = ["PATH=/bin"]
    config["root"] = {"path": "rootfs"}
    for key, value in changes.items():
        if key.startswith("process_"):
            process[key[len("process_"):]] = value
        else:
            config[key] = value
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture
def oci(tmp_path: Path, lxc_env: dict[str, str]) -> Iterator[Oci]:
    tool = Oci(tmp_path / "root", lxc_env)
    try:
        yield tool
    finally:
        tool.cleanup()


def test_create_waits_before_the_program_until_start(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["sh", "-c", "echo started $$ $(hostname); exit 7"], hostname="oci-box")
    out = tmp_path / "out"
    cid, keeper = oci.create(bundle, out)
    assert oci.status(cid) == "created"
    state = json.loads(oci("state", cid).stdout)
    assert state["bundle"] == str(bundle) and state["rootfs"] == str(bundle / "rootfs")
    with open(f"/proc/{state['pid']}/status", encoding="ascii") as handle:
        assert handle.read().count("NSpid") == 1  # the init is there, set up, waiting
    assert out.read_text() == ""  # and its program has not run
    listed = subprocess.run(
        [str(BIN / "lxc-ls"), "-P", str(oci.root), "-1"], capture_output=True, text=True, env=oci.env, check=False
    )  # fmt: skip
    assert listed.stdout.split() == [cid]  # an ordinary container of the root's daemon
    assert oci("start", cid).returncode == 0
    assert reap(keeper) == 7
    assert out.read_text() == "started 1 oci-box\n"
    deadline = time.monotonic() + 10
    while oci.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert oci.status(cid) == "stopped"
    assert oci("delete", cid).returncode == 0
    assert not (oci.root / cid).exists()
    assert "does not exist" in oci("state", cid).stderr


def test_a_missing_program_fails_create_and_leaves_nothing(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["no-such-program"])
    result = oci("create", "--bundle", str(bundle), "nope1")
    assert result.returncode == 1
    assert 'exec: "no-such-program": executable file not found in $PATH' in result.stderr
    assert not (oci.root / "nope1").exists()


def test_an_unsupported_field_is_refused_by_name_in_stderr_and_the_log(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["true"], domainname="example.org")
    log = tmp_path / "log.json"
    result = subprocess.run(
        [OCI, "--root", str(oci.root), "--log", str(log), "--log-format", "json", "create",
         "--bundle", str(bundle), "bad1"], capture_output=True, text=True, env=oci.env, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "config.json: domainname: not supported by trio-lxc-oci (refused rather than ignored)"
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["level"] == "error" and "domainname" in record["msg"]
    assert not (oci.root / "bad1").exists()


def test_running_container_kill_delete_rules(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    assert oci.status(cid) == "running"
    assert "cannot start an already running container" in oci("start", cid).stderr
    refused = oci("delete", cid)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"cannot delete container {cid} that is not stopped: running"
    pids = json.loads(oci("ps", "--format", "json", cid).stdout)
    assert len(pids) == 1
    assert oci("pause", cid).returncode == 0
    assert oci.status(cid) == "paused"
    assert oci("resume", cid).returncode == 0
    assert oci.status(cid) == "running"
    assert oci("kill", cid, "KILL").returncode == 0
    assert reap(keeper) == 137
    assert oci("delete", cid).returncode == 0
    assert not os.path.exists(f"/proc/{pids[0]}")
    assert oci("delete", "--force", cid).returncode == 0  # gone already: fine with --force
    assert "does not exist" in oci("delete", cid).stderr


def test_exec_runs_in_the_container_with_the_process_json(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"], hostname="exec-box")
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    process = {
        "args": ["sh", "-c", "echo $(hostname) $(cat /proc/1/comm) $FOO $(id -u):$(id -g) $PWD; exit 5"],
        "env": ["PATH=/bin", "FOO=bar"], "cwd": "/tmp", "user": {"uid": 1000, "gid": 1000},
    }  # fmt: skip
    (tmp_path / "process.json").write_text(json.dumps(process))
    result = oci("exec", "--process", str(tmp_path / "process.json"), cid)
    assert result.returncode == 5, result.stderr
    assert result.stdout == "exec-box sleep bar 1000:1000 /tmp\n"
    missing = oci("exec", cid, "no-such-program")
    assert missing.returncode == 1 and "executable file not found" in missing.stderr
    pid_file = tmp_path / "exec.pid"
    detached = subprocess.run(  # its stdio: not pipes we would wait on
        [OCI, "--root", str(oci.root), "exec", "--detach", "--pid-file", str(pid_file), cid, "sleep", "1000"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=oci.env,
        timeout=60, check=False,
    )  # fmt: skip
    assert detached.returncode == 0
    exec_pid = int(pid_file.read_text())
    assert exec_pid in json.loads(oci("ps", "--format", "json", cid).stdout)
    assert oci("kill", "--all", cid, "9").returncode == 0
    # Re-parented to us (to the shim, under containerd), which must reap it: the
    # container's pid 1 cannot finish exiting while a process of its namespace is
    # an unreaped zombie.
    os.waitpid(exec_pid, 0)
    assert reap(keeper) == 137


def test_terminal_master_goes_to_the_console_socket(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(
        tmp_path / "b", ["sh", "-c", "[ -t 1 ] && : < /dev/tty && echo on a tty"],
        process_terminal=True,
        process_consoleSize={"height": 40, "width": 120},
    )  # fmt: skip
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    try:
        cid, keeper = oci.create(bundle, None, "--console-socket", path)
        conn, _ = listener.accept()
        fds = array.array("i")
        data, ancillary, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload)
        conn.close()
        assert data == b"/dev/ptmx" and len(fds) == 1
        master = fds[0]
        assert oci("start", cid).returncode == 0
        assert reap(keeper) == 0
        output = b""
        while b"on a tty" not in output:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            output += chunk
        os.close(master)
        assert b"on a tty" in output
    finally:
        listener.close()


def test_poststart_and_poststop_hooks_get_the_state(oci: Oci, tmp_path: Path) -> None:
    record = tmp_path / "hooks"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"cat >> {record}; echo >> {record}"]}
    bundle = make_bundle(
        tmp_path / "b", ["true"],
        hooks={"createRuntime": [hook], "poststart": [hook], "poststop": [hook]},
    )  # fmt: skip
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    assert reap(keeper) == 0
    deadline = time.monotonic() + 10
    while oci.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert oci("delete", cid).returncode == 0
    states = [json.loads(line) for line in record.read_text().splitlines() if line]
    assert [s["id"] for s in states] == [cid, cid, cid]
    assert states[0]["status"] == "creating" and states[0]["pid"] > 0
    assert states[2]["status"] == "stopped"


def test_a_failing_create_runtime_hook_fails_create(oci: Oci, tmp_path: Path) -> None:
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}
    bundle = make_bundle(tmp_path / "b", ["true"], hooks={"createRuntime": [hook]})
    result = oci("create", "--bundle", str(bundle), "hookfail1")
    assert result.returncode == 1
    assert "createRuntime hook /bin/sh exited with status 3" in result.stderr
    assert not (oci.root / "hookfail1").exists()


def test_update_events_features_spec(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    update = oci("update", "--resources", "-", cid, input=json.dumps({"pids": {"limit": 42}}))
    assert update.returncode == 0, update.stderr
    pid = json.loads(oci("state", cid).stdout)["pid"]
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as handle:
        pids_path = next(line.split(":", 2)[2].strip() for line in handle if ":pids:" in line)
    assert Path(f"/sys/fs/cgroup/pids{pids_path}/pids.max").read_text().strip() == "42"
    event = json.loads(oci("events", "--stats", cid).stdout)
    assert event["type"] == "stats" and event["id"] == cid and event["data"]["memory"]["usage"]["usage"] > 0
    assert oci("kill", cid, "SIGKILL").returncode == 0
    assert reap(keeper) == 137
    features = json.loads(oci("features").stdout)
    assert features["hooks"] == ["poststart", "poststop"]
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    assert oci("spec", "--bundle", str(spec_dir)).returncode == 0
    assert json.loads((spec_dir / "config.json").read_text())["ociVersion"].startswith("1.")
    assert oci("--systemd-cgroup", "state", cid).stderr.startswith("--systemd-cgroup:")
