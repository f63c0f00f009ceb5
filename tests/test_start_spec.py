"""One spec per start (runtime.spawn.start_spec), the spawner link's messages
(runtime.spawn.messages) and the typed runtime record (runtime.client.records).

The pure parts have plain unit tests; the claim that matters, that the spawner
starts what the daemon resolved without reading the config file, is tested on
the real spawner process forking a real busybox container whose spec names a
config file that does not exist.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Cli, create_busybox, kill_daemon
from hypothesis import HealthCheck, given, settings
from test_config_model import SETTINGS, _applied

from runtime.client import records
from runtime.config import model
from runtime.daemon.lifecycle import Lifecycle
from runtime.spawn import handshake
from runtime.spawn import messages as m
from runtime.spawn import start_spec as ss
from runtime.spawn.initexe import INIT_PATH
from runtime.storage.templates import TemplateContext, get_template

# -- the pid-1 choice -----------------------------------------------------------------


def _config(text: str) -> ss.ConfigModel:
    return model.loads(text)


@pytest.mark.parametrize(
    ("mode", "command", "text", "argv"),
    [
        ("system", ("/bin/sh",), "lxc.init.cmd = /sbin/other", ("/bin/sh",)),
        ("system", (), "lxc.init.cmd = /sbin/other  -x  y", ("/sbin/other", "-x", "y")),
        ("system", (), "", ("/sbin/init",)),
        ("application", ("true",), "lxc.execute.cmd = false", ("true",)),
        ("application", (), "lxc.execute.cmd = /bin/echo hi", ("/bin/echo", "hi")),
        ("application", (), "lxc.init.cmd = /bin/sh", None),
    ],
)
def test_pid1_is_the_command_else_the_config_else_sbin_init(mode, command, text, argv) -> None:
    if argv is None:
        with pytest.raises(ss.StartRefused, match="no command to execute"):
            ss.pid1_argv(mode, command, _config(text))
    else:
        assert ss.pid1_argv(mode, command, _config(text)) == argv


def test_resolve_applies_file_then_defines_once(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("lxc.rootfs.path = dir:/nowhere\nlxc.uts.name = first\nlxc.init.cmd = /bin/a\n")
    args = ss.StartArgs(
        name="c1", mode="system", config_path=str(config), defines=("lxc.uts.name=second",)
    )
    spec = ss.resolve(args, str(tmp_path))
    assert spec.argv == ("/bin/a",) and spec.config.uts_name == "second"
    assert spec.name == "c1" and spec.config_path == str(config) and spec.lxcpath == str(tmp_path)
    config.write_text("garbage that no longer parses\n")  # the spec does not look again
    assert spec.config.uts_name == "second"


def test_resolve_refuses_with_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("lxc.rootfs.path = dir:/nowhere\nlxc.tty.max = many\n")
    with pytest.raises(ss.StartRefused, match=rf"{config}:2.*lxc\.tty\.max"):
        ss.resolve(ss.StartArgs(name="c1", mode="system", config_path=str(config)), str(tmp_path))


def test_resolve_refuses_the_host_init_without_a_rootfs(tmp_path: Path) -> None:
    args = ss.StartArgs(name="c1", mode="system", config_text="lxc.uts.name = x\n")
    with pytest.raises(ss.StartRefused, match="lxc.rootfs.path is not set"):
        ss.resolve(args, str(tmp_path))
    given_command = ss.StartArgs(name="c1", mode="system", command=("/bin/sh",), config_text="")
    assert ss.resolve(given_command, str(tmp_path)).argv == ("/bin/sh",)


def test_share_names_become_pids_in_the_spec(tmp_path: Path) -> None:
    args = ss.StartArgs(
        name="c1", mode="application", command=("true",),
        config_text="lxc.namespace.share.net = other\n",
    )  # fmt: skip
    with pytest.raises(ss.StartRefused, match="'other' is not running"):
        ss.resolve(args, str(tmp_path), running_init=lambda name: None)
    spec = ss.resolve(args, str(tmp_path), running_init={"other": 4321}.get)
    assert spec.config.namespace_share == {"net": "4321"}


def test_start_args_refuse_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        ss.StartArgs(name="c1", mode="container")


# -- the wire -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SETTINGS)
def test_a_spec_decodes_to_the_same_typed_config(pairs) -> None:
    config = model.from_raw(_applied(pairs))
    args = ss.StartArgs(name="c1", mode="system", command=("/bin/sh", "-c", "x y"), defines=("a=b",))
    spec = ss.StartSpec(args=args, lxcpath="/l", argv=("/bin/sh",), config=config, seccomp_bpf=b"\0\1")
    again = ss.from_wire(json.loads(json.dumps(ss.to_wire(spec))))
    assert again == spec and again.config == config


def test_a_malformed_spec_is_refused() -> None:
    spec = ss.resolve(ss.StartArgs(name="c1", mode="application", command=("true",)), "/l")
    wire = ss.to_wire(spec)
    for key, value in (("argv", "true"), ("config", {"tty_max": "many"}), ("name", None)):
        with pytest.raises(ss.WireError):
            ss.from_wire({**wire, key: value})


def _spec() -> ss.StartSpec:
    return ss.resolve(ss.StartArgs(name="c1", mode="application", command=("true",)), "/l")


@pytest.mark.parametrize(
    "message",
    [
        m.Spawn(id=7, request=m.SpawnRequest(spec=_spec(), console="/dev/pts/9", ttys=("/dev/pts/10",),
                                              hook_env={"LXC_NAME": "c1"}, hook_timeout=2.5)),
        m.Spawn(id=8, request=m.SpawnRequest(spec=_spec())),
        m.Hello(children=(3, 4), exits=(m.ExitReport(pid=5, status=256),)),
        m.Hello(),
        m.Spawned(id=7, pid=99),
        m.SpawnFailed(id=7, error="no"),
        m.Exited(pid=99, status=9),
    ],
)  # fmt: skip
def test_link_messages_round_trip(message: m.Message) -> None:
    assert m.decode(m.encode(message)) == message


@pytest.mark.parametrize(
    "packet",
    [b"not json", b"[]", b'{"op": "spawned", "id": "7", "pid": 1}', b'{"op": "exit", "pid": 1}',
     b'{"op": "hello", "children": ["x"]}', b'{"op": "spawn", "id": 1, "request": {"spec": {}}}'],
)  # fmt: skip
def test_link_refuses_what_is_not_a_message(packet: bytes) -> None:
    with pytest.raises(m.LinkProtocolError):
        m.decode(packet)


def test_link_ignores_an_unknown_op() -> None:
    assert m.decode(b'{"op": "later", "x": 1}') is None


# -- records --------------------------------------------------------------------------


def test_record_round_trips_and_keeps_the_fields_commands_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRIO_LXC_RUN_ROOT", str(tmp_path / "run"))
    record = records.ContainerRecord(
        name="c1", state="RUNNING", mode="application", command=("sh",), config_path="/c",
        defines=("a=b",), pid=42, pid_start_time=7, daemon_pid=1, daemon_start_time=2,
        cgroups={"unified": "/sys/fs/cgroup/x"}, cgroup_limits={"unified": "/sys/fs/cgroup/y"},
        net=[{"type": "veth", "host": "vethX"}], attach={"uid": 0},
    )  # fmt: skip
    data = record.to_json()
    assert data["version"] == records.VERSION
    for key in ("state", "pid", "pid_start_time", "daemon_pid", "daemon_start_time", "cgroups",
                "cgroup_limits", "attach", "net", "config_path", "name", "defines"):  # fmt: skip
        assert key in data, key
    assert records.ContainerRecord.from_json(json.loads(json.dumps(data))) == record


def test_a_version_1_record_is_read_with_its_argv_as_the_command() -> None:
    old = {"name": "c1", "state": "RUNNING", "mode": "system", "argv": ["/sbin/init"], "pid": 9}
    record = records.ContainerRecord.from_json(old)
    assert record.command == ("/sbin/init",) and record.pid == 9


def test_a_later_record_version_is_refused(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(records.RecordError, match="version 3 is not understood"):
        records.ContainerRecord.from_json({"version": 3, "name": "c1", "state": "RUNNING"})


def test_lifecycle_state_changes_only_by_advance() -> None:
    life = Lifecycle("c1")
    with pytest.raises(AttributeError):
        life.state = "RUNNING"
    assert life.advance("STARTING") == "STARTING" and life.state == "STARTING"


# -- the real spawner never reads the config file ---------------------------------------


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox") or not os.path.exists(INIT_PATH),
    reason="needs root, busybox-static and `make setup`",
)
def test_the_spawner_starts_the_spec_without_the_config_file(tmp_path: Path) -> None:
    rootfs = tmp_path / "c1" / "rootfs"
    rootfs.mkdir(parents=True)
    ctx = TemplateContext(name="c1", path=str(tmp_path / "c1"), rootfs=str(rootfs), final_rootfs=str(rootfs))
    lines = [f"lxc.rootfs.path = dir:{rootfs}"] + [f"{k} = {v}" for k, v in get_template("busybox")(ctx)]
    config = model.loads("\n".join(lines) + "\nlxc.uts.name = from-the-spec\n")
    args = ss.StartArgs(
        name="c1", mode="application", command=("/bin/hostname",),
        config_path=str(tmp_path / "no-such-config"),  # read by nobody
    )  # fmt: skip
    spec = ss.StartSpec(args=args, lxcpath=str(tmp_path), argv=args.command, config=config)
    path = str(tmp_path / "spawner.sock")
    read_fd, write_fd = os.pipe()
    spawner = subprocess.Popen(
        [sys.executable, "-m", "runtime.spawn.spawner", "--socket", path, "--ready-fd", str(write_fd)],
        pass_fds=(write_fd,), start_new_session=True,
    )  # fmt: skip
    os.close(write_fd)
    link = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    out = open(tmp_path / "stdout", "w+b")  # noqa: SIM115 - closed below
    init_pid = None
    try:
        assert select.select([read_fd], [], [], 20)[0] and os.read(read_fd, 1) == b"1"
        link.connect(path)
        link.settimeout(20)
        assert isinstance(m.decode(link.recv(1 << 20)), m.Hello)
        stdin = os.open(os.devnull, os.O_RDONLY)
        fds = [theirs.fileno(), stdin, out.fileno(), out.fileno()]
        packet = m.encode(m.Spawn(id=1, request=m.SpawnRequest(spec=spec)))
        link.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(_ints(fds))))])
        os.close(stdin)
        theirs.close()
        spawned = m.decode(link.recv(1 << 20))
        assert isinstance(spawned, m.Spawned) and spawned.id == 1
        ours.settimeout(20)
        first = handshake.recv_msg(ours)
        assert first is not None and first["step"] == "pid", first
        init_pid = int(first["pid"])
        if first.get("netns"):  # its netlink handles (no devices to make here)
            assert (handshake.recv_msg(ours) or {}).get("step") == "netns"
        handshake.send_msg(ours, {"step": "go"})
        assert handshake.recv_msg(ours) is None  # EOF: the exec happened
        statuses = {}
        deadline = time.monotonic() + 20
        while init_pid not in statuses and time.monotonic() < deadline:
            message = m.decode(link.recv(1 << 20))
            if isinstance(message, m.Exited):
                statuses[message.pid] = message.status
        assert os.waitstatus_to_exitcode(statuses[init_pid]) == 0
        out.seek(0)
        assert out.read().decode().strip() == "from-the-spec"
    finally:
        link.close()
        ours.close()
        out.close()
        os.close(read_fd)
        if init_pid is not None:
            try:
                os.kill(init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            spawner.wait(timeout=20)  # it exits once it has no daemon and no children
        except subprocess.TimeoutExpired:
            os.killpg(spawner.pid, signal.SIGKILL)
            spawner.wait()


def _ints(fds: list[int]) -> bytes:
    import array

    return array.array("i", fds).tobytes()


# -- the daemon chooses pid 1 -----------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _init_pid(cli: Cli, name: str) -> int:
    """The init's pid; 0 while there is none (between a stop and the start again)."""
    return int(cli("lxc-info", "-n", name, "-pH").stdout.strip() or 0)


def _wait(predicate, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_daemon_runs_init_cmd_and_again_after_a_readoption(runtime: Cli, tmp_path: Path) -> None:
    """lxc-start sends no command: the daemon takes lxc.init.cmd (a define here); a
    new daemon re-adopts the container from its record and a reboot resolves the
    same start again."""
    name = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "spec")
    script = runtime.lxcpath / name / "rootfs" / "bin" / "spec-init"
    script.write_text("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1; done\n")
    script.chmod(0o755)
    started = runtime("lxc-start", "-n", name, "-s", "lxc.init.cmd=/bin/spec-init one")
    assert started.returncode == 0, started.stderr
    first = _init_pid(runtime, name)
    assert _cmdline(first) == ["/bin/sh", "/bin/spec-init", "one"]
    kill_daemon(runtime)
    rebooted = runtime("lxc-stop", "-n", name, "-r")  # a new daemon, which re-adopts it
    assert rebooted.returncode == 0, rebooted.stderr
    assert _wait(lambda: _init_pid(runtime, name) not in (first, 0))
    assert _cmdline(_init_pid(runtime, name)) == ["/bin/sh", "/bin/spec-init", "one"]
    assert runtime("lxc-stop", "-n", name, "-k").returncode == 0


def test_the_daemon_runs_execute_cmd(runtime: Cli, tmp_path: Path) -> None:
    name = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.execute.cmd = /bin/false\n", "spec")
    assert runtime("lxc-execute", "-n", name).returncode == 1
    assert runtime("lxc-execute", "-n", name, "--", "/bin/true").returncode == 0
