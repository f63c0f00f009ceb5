"""`trio-lxc-oci` against hostile input: each test is an attack on a real container.

The container is hostile and so is anything shaped by a caller's typo or an
image: `exec` must not hand the container a host fd or more privilege than its
init has; the state directory and the exec FIFO are never reached through a
symlink; a bad id, config.json or process.json is one line naming the field,
exit 1, and nothing left behind (no state directory, no container of the daemon).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_oci_cli import BIN, OCI, Oci, make_bundle, reap

from cli.oci_info import default_spec


@pytest.fixture
def oci(tmp_path: Path, lxc_env: dict[str, str]) -> Iterator[Oci]:
    tool = Oci(tmp_path / "root", lxc_env)
    try:
        yield tool
    finally:
        tool.cleanup()


def _status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in /proc/{pid}/status")


def _running(oci: Oci, tmp_path: Path, **changes: object) -> tuple[str, int, int]:
    """A started `sleep 1000` container: (id, keeper, init pid)."""
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"], **changes)
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    return cid, keeper, int(json.loads(oci("state", cid).stdout)["pid"])


def _detached(
    oci: Oci, tmp_path: Path, cid: str, argv: tuple[str, ...] = ("sleep", "1000"), flags: tuple[str, ...] = (),
    pass_fds: tuple[int, ...] = (),
) -> int:  # fmt: skip
    """`exec --detach` (stdio /dev/null); the exec'd process's host pid."""
    pid_file = tmp_path / f"exec-{time.monotonic_ns()}.pid"
    with open(os.devnull, "wb") as null:  # a pipe would stay open as long as the process runs
        result = subprocess.run(
            [OCI, "--root", str(oci.root), "exec", "--detach", "--pid-file", str(pid_file), *flags, cid, *argv],
            stdin=null, stdout=null, stderr=null, env=oci.env, timeout=60, check=False, pass_fds=pass_fds,
        )  # fmt: skip
    assert result.returncode == 0
    return int(pid_file.read_text())


def _stop(oci: Oci, cid: str, keeper: int, *exec_pids: int) -> None:
    assert oci("kill", "--all", cid, "KILL").returncode == 0
    for pid in exec_pids:  # re-parented to us (the shim's place): reaped here
        os.waitpid(pid, 0)
    assert reap(keeper) == 137


def _nothing_left(oci: Oci, cid: str) -> None:
    assert not os.path.lexists(oci.root / cid), f"{cid}: a state directory was left"
    listed = subprocess.run(
        [str(BIN / "lxc-ls"), "-P", str(oci.root), "-1"], capture_output=True, text=True, env=oci.env, check=False
    )  # fmt: skip
    assert cid not in listed.stdout.split()


# -- exec ---------------------------------------------------------------------


def test_exec_gets_no_host_fd(oci: Oci, tmp_path: Path) -> None:
    """A host file open (not close-on-exec) in the caller never reaches the process."""
    cid, keeper, _init = _running(oci, tmp_path)
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    fd = os.open(secret, os.O_RDONLY)  # inheritable, as a careless shim's would be
    os.set_inheritable(fd, True)
    try:
        pid = _detached(oci, tmp_path, cid, pass_fds=(fd,))
    finally:
        os.close(fd)
    try:
        fds = sorted(int(name) for name in os.listdir(f"/proc/{pid}/fd"))
        assert fds == [0, 1, 2]
        for number in fds:
            assert os.readlink(f"/proc/{pid}/fd/{number}") == "/dev/null"
    finally:
        _stop(oci, cid, keeper, pid)


def test_exec_never_has_more_capabilities_than_the_init(oci: Oci, tmp_path: Path) -> None:
    """Without process.capabilities (and without --process), the init's bounding set,
    not the full set of the root that runs the command."""
    cid, keeper, init = _running(oci, tmp_path, process_noNewPrivileges=True)
    bounding = _status_field(init, "CapBnd")
    assert int(bounding, 16) != 0 and int(bounding, 16) < int(_status_field(os.getpid(), "CapBnd"), 16)
    plain = _detached(oci, tmp_path, cid)
    process = {"args": ["sleep", "1000"], "env": ["PATH=/bin"], "cwd": "/"}
    (tmp_path / "p.json").write_text(json.dumps(process))
    with_json = _detached(oci, tmp_path, cid, (), ("--process", str(tmp_path / "p.json")))
    try:
        for pid in (plain, with_json):
            assert _status_field(pid, "CapBnd") == bounding
            assert int(_status_field(pid, "CapEff"), 16) & ~int(bounding, 16) == 0
            assert _status_field(pid, "NoNewPrivs") == "1"  # the container's, kept
    finally:
        _stop(oci, cid, keeper, plain, with_json)


def test_bad_input_to_a_running_container_is_refused_by_name(oci: Oci, tmp_path: Path) -> None:
    """exec: uid -1 is "unchanged" to setresuid, it would leave the process host root;
    update, events: one line too, never a traceback."""
    cid, keeper, _init = _running(oci, tmp_path)
    try:
        cases = [
            ({"user": {"uid": -1, "gid": 0}}, "process.user.uid"),
            ({"user": {"uid": 0, "gid": 4294967295}}, "process.user.gid"),
            ({"user": {"uid": 0, "gid": 0, "additionalGids": [-1]}}, "process.user.additionalGids[0]"),
            ({"cwd": "tmp"}, "process.cwd"),
            ({"consoleSize": {"height": 70000, "width": 1}}, "process.consoleSize.height"),
        ]
        for change, field in cases:
            process: dict[str, object] = {"args": ["true"], "env": ["PATH=/bin"], "cwd": "/", **change}
            (tmp_path / "p.json").write_text(json.dumps(process))
            result = oci("exec", "--process", str(tmp_path / "p.json"), cid)
            assert result.returncode == 1, (field, result.stdout)
            assert len(result.stderr.splitlines()) == 1 and field in result.stderr, result.stderr
        for flags, name in ((("-u", "-1"), "--user"), (("-u", "abc"), "--user"), (("-u", "0:x"), "--user"),
                            (("-g", "x"), "--additional-gids"), (("--cwd", "tmp"), "--cwd"),
                            (("-t", "--console-socket", str(tmp_path / "none.sock")), "--console-socket")):  # fmt: skip
            result = oci("exec", *flags, cid, "true")
            assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
            assert result.stderr.startswith(name), result.stderr
        deep = oci("update", "--resources", "-", cid, input="[" * 100_000)
        assert deep.returncode == 1 and deep.stderr == "resources: not valid JSON: nested too deeply\n"
        events = oci("events", "--interval", "-1", cid)
        assert events.returncode == 1 and events.stderr.startswith("--interval:")
    finally:
        _stop(oci, cid, keeper)


def test_exec_cwd_is_resolved_inside_the_container(oci: Oci, tmp_path: Path) -> None:
    """A symlink of the container's that leads out of its root stays in it."""
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    (bundle / "rootfs" / "tmp" / "out").symlink_to("../../../../../../../" + str(tmp_path).lstrip("/"))
    (tmp_path / "host-only").mkdir()
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    try:
        process = {"args": ["ls", "/tmp/out"], "env": ["PATH=/bin"], "cwd": "/tmp/out"}
        (tmp_path / "p.json").write_text(json.dumps(process))
        result = oci("exec", "--process", str(tmp_path / "p.json"), cid)
        assert "host-only" not in result.stdout
    finally:
        _stop(oci, cid, keeper)


def test_exec_joins_the_containers_time_namespace(oci: Oci, tmp_path: Path) -> None:
    """Every namespace of the init is joined, time too: the exec'd process sees the
    container's clocks (its boottime offset), not the host's."""
    linux = default_spec()["linux"]
    assert isinstance(linux, dict)
    linux["namespaces"] = [*linux["namespaces"], {"type": "time"}]
    linux["timeOffsets"] = {"boottime": {"secs": 1_000_000_000}}
    cid, keeper, init = _running(oci, tmp_path, linux=linux)
    try:
        result = oci("exec", cid, "cat", "/proc/uptime")
        assert result.returncode == 0, result.stderr
        assert float(result.stdout.split()[0]) > 1_000_000_000
    finally:
        _stop(oci, cid, keeper)


def test_exec_refuses_lsm_fields_by_name(oci: Oci, tmp_path: Path) -> None:
    cid, keeper, _init = _running(oci, tmp_path)
    try:
        for field, value in (("apparmorProfile", "unconfined"), ("selinuxLabel", "system_u:system_r:t:s0")):
            process = {"args": ["true"], "env": ["PATH=/bin"], "cwd": "/", field: value}
            (tmp_path / "p.json").write_text(json.dumps(process))
            result = oci("exec", "--process", str(tmp_path / "p.json"), cid)
            assert result.returncode == 1 and f"process.{field}" in result.stderr
    finally:
        _stop(oci, cid, keeper)


# -- the state directory and the exec FIFO ------------------------------------


def test_the_fifo_is_the_inits_alone(oci: Oci, tmp_path: Path) -> None:
    """No other user may write the FIFO (one byte would make `start` report a start
    that never happened); a non-root init can still pass it."""
    bundle = make_bundle(
        tmp_path / "b", ["sh", "-c", "id -u > /tmp/ran"], process_user={"uid": 1000, "gid": 1000},
        process_capabilities={"bounding": ["CAP_KILL"]},
    )  # fmt: skip
    (bundle / "rootfs" / "tmp").chmod(0o1777)
    cid, keeper = oci.create(bundle)
    info = os.lstat(oci.root / cid / "exec.fifo")
    assert stat.S_ISFIFO(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077 == 0
    assert info.st_uid == 1000
    for name in ("config", "oci.json"):  # process.env is there: root's alone
        assert stat.S_IMODE(os.lstat(oci.root / cid / name).st_mode) == 0o600
    assert oci("start", cid).returncode == 0
    assert reap(keeper) == 0
    assert (bundle / "rootfs" / "tmp" / "ran").read_text() == "1000\n"


def test_a_user_namespace_container_waits_for_start_too(oci: Oci, tmp_path: Path) -> None:
    """The init of a mapped container is not the host's root once in its namespace:
    it must still find its gate (it did not, and ran its program at create)."""
    base = 3_000_000_000 + random.randrange(0, 9000) * 65536
    place = Path(tempfile.mkdtemp(prefix="trio-lxc-oci-userns-", dir="/tmp"))
    place.chmod(0o755)  # the mapped root must reach its rootfs; the --root stays 0700
    try:
        linux = default_spec()["linux"]
        assert isinstance(linux, dict)
        linux["namespaces"] = [*linux["namespaces"], {"type": "user"}]
        linux["uidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
        bundle = make_bundle(place / "b", ["sh", "-c", "id -u > /tmp/ran"], linux=linux)
        (bundle / "rootfs" / "tmp").chmod(0o1777)
        cid, keeper = oci.create(bundle)
        assert os.lstat(oci.root / cid / "exec.fifo").st_uid == base
        time.sleep(1)
        assert not (bundle / "rootfs" / "tmp" / "ran").exists()  # nothing ran before start
        assert oci.status(cid) == "created"
        assert oci("start", cid).returncode == 0
        assert reap(keeper) == 0
        assert (bundle / "rootfs" / "tmp" / "ran").read_text() == "0\n"
    finally:
        shutil.rmtree(place, ignore_errors=True)


def test_a_created_containers_waiting_init_shows_nothing_of_the_host(oci: Oci, tmp_path: Path) -> None:
    """Until `start`, the init is the host's Python holding an O_PATH fd on the FIFO
    (a host path): a process exec'd next to it (root, without CAP_SYS_PTRACE) must
    not reach its /proc/1/exe, fd or environ."""
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    cid, keeper = oci.create(bundle)
    try:
        probe = oci("exec", cid, "sh", "-c", "ls -l /proc/1/exe /proc/1/fd/ 2>&1; cat /proc/1/environ 2>&1; true")
        assert probe.returncode == 0, probe.stderr
        assert "python" not in probe.stdout and "exec.fifo" not in probe.stdout
        assert str(oci.root) not in probe.stdout and "PATH=" not in probe.stdout
        assert "/proc/1/exe: cannot read link: Permission denied" in probe.stdout, probe.stdout
        assert " -> " not in probe.stdout, probe.stdout  # not one of its fds' targets
        assert "can't open '/proc/1/environ': Permission denied" in probe.stdout, probe.stdout
        assert oci("start", cid).returncode == 0
    finally:
        assert oci("kill", cid, "KILL").returncode == 0
        assert reap(keeper) == 137


def test_exec_never_runs_the_hosts_init_binary_through_a_magic_link(oci: Oci, tmp_path: Path) -> None:
    """A container's symlink to /proc/1/exe, while the init waiting at its gate is the
    host's Python: the exec'd program is resolved without CAP_SYS_PTRACE (the
    capabilities the process keeps, not the full set of the root that made it)."""
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    (bundle / "rootfs" / "bin" / "evil").symlink_to("/proc/1/exe")
    cid, keeper = oci.create(bundle)
    try:
        before = _our_children()
        result = oci("exec", cid, "/bin/evil", "-c", "print('host python ran')")
        assert result.returncode != 0 and "host python ran" not in result.stdout
        assert "Permission denied" in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
        # The process that failed its exec was collected by exec, not left to us (this
        # test run is a subreaper): as a zombie in the container's pid namespace it
        # kept the init from dying at the kill below, and the test hung.
        assert _our_children() - before == set()
    finally:
        assert oci("kill", cid, "KILL").returncode == 0
        assert reap(keeper) == 137


def test_start_never_opens_a_fifo_through_a_symlink(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["true"])
    cid, keeper = oci.create(bundle)
    decoy = tmp_path / "decoy.fifo"  # stands for a host file: a byte waits in it
    os.mkfifo(decoy)
    reader = os.open(decoy, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(decoy, os.O_WRONLY)
    os.write(writer, b"1")
    fifo = oci.root / cid / "exec.fifo"
    os.rename(fifo, oci.root / cid / "moved.fifo")
    fifo.symlink_to(decoy)
    try:
        result = oci("start", cid)
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
        assert os.read(reader, 1) == b"1"  # not read by start
    finally:
        os.close(reader)
        os.close(writer)
        assert oci("delete", "--force", cid).returncode == 0
        reap(keeper)
    _nothing_left(oci, cid)


def test_state_files_are_never_reached_through_symlinks(oci: Oci, tmp_path: Path) -> None:
    """A symlink planted as the container's directory, or as its oci.json, is not
    followed: no host file is read as the state, none written, none removed."""
    oci.root.mkdir(parents=True)
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (host_dir / "oci.json").write_text(json.dumps({"bundle": "/host", "pid": os.getpid()}))
    (host_dir / "config").write_text("precious\n")
    (oci.root / "planted").symlink_to(host_dir)
    assert "does not exist" in oci("state", "planted").stderr
    bundle = make_bundle(tmp_path / "b", ["true"])
    result = oci("create", "--bundle", str(bundle), "planted")
    assert result.returncode == 1 and "exists" in result.stderr
    assert oci("delete", "--force", "planted").returncode == 0
    assert (host_dir / "config").read_text() == "precious\n" and (host_dir / "oci.json").exists()
    cid, keeper = oci.create(bundle)
    state = oci.root / cid / "oci.json"
    state.unlink()
    state.symlink_to(host_dir / "oci.json")
    result = oci("state", cid)
    assert result.returncode == 1 and "/host" not in result.stdout
    assert oci("delete", "--force", cid).returncode == 0
    reap(keeper)
    assert (host_dir / "oci.json").exists()
    _nothing_left(oci, cid)


def test_a_root_others_can_write_is_refused(oci: Oci, tmp_path: Path) -> None:
    """Whoever can make <root>/<id>/ hands the runtime a config and hooks to run as root."""
    oci.root.mkdir(mode=0o700)
    oci.root.chmod(0o777)
    bundle = make_bundle(tmp_path / "b", ["true"])
    for command in (["create", "--bundle", str(bundle), "open1"], ["state", "open1"], ["delete", "open1"]):
        result = oci(*command)
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(f"--root: {oci.root} is writable by other users")
    assert os.listdir(oci.root) == []


def test_two_creates_of_one_id_do_not_clobber(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    cid, keeper = oci.create(bundle)
    first = json.loads(oci("state", cid).stdout)
    again = oci("create", "--bundle", str(bundle), cid)
    assert again.returncode == 1 and again.stderr.strip() == f"container with id exists: {cid}"
    assert json.loads(oci("state", cid).stdout) == first
    assert oci("delete", "--force", cid).returncode == 0
    reap(keeper)
    _nothing_left(oci, cid)


# -- hostile ids and config.json ----------------------------------------------


@pytest.mark.parametrize("bad_id", ["a/b", "..", ".", "", "x" * 65, "abc\n", "\u00e9t\u00e9", "../x", "a b"])
def test_hostile_ids_are_refused(oci: Oci, tmp_path: Path, bad_id: str) -> None:
    bundle = make_bundle(tmp_path / "b", ["true"])
    for command in (["create", "--bundle", str(bundle)], ["state"], ["delete", "--force"], ["kill"], ["start"]):
        result = oci(*command, bad_id)
        assert result.returncode == 1, (command, result.stdout)
        assert result.stderr.startswith("invalid container id format") and len(result.stderr.splitlines()) == 1
    assert not oci.root.exists() or os.listdir(oci.root) in ([], ["run"]) or all(
        not name.startswith(("a", "x", ".")) for name in os.listdir(oci.root)
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "b" / "x").exists()


def _config(bundle: Path) -> dict[str, object]:
    return dict(json.loads((bundle / "config.json").read_text()))


@pytest.mark.parametrize(
    "shape, field",
    [
        ("deep", "config.json"),
        ("huge", "config.json"),
        ("not-object", "config.json"),
        ("process-string", "process"),
        ("root-number", "root"),
        ("no-process", "process"),
        ("no-root", "root"),
        ("namespaces-object", "linux.namespaces"),
        ("uid-huge", "process.user.uid"),
        ("uid-negative", "process.user.uid"),
        ("console-size", "process.consoleSize.height"),
        ("config-symlink", "config.json"),
        ("rootfs-symlink", "root.path"),
        ("rootfs-dotdot", "root.path"),
    ],
)
def test_hostile_config_json_is_refused_by_name(oci: Oci, tmp_path: Path, shape: str, field: str) -> None:
    bundle = make_bundle(tmp_path / "b", ["true"])
    config = _config(bundle)
    process = config["process"]
    assert isinstance(process, dict)
    outside = tmp_path / "outside"
    outside.mkdir()
    text: str | None = None
    if shape == "deep":
        text = "[" * 200_000 + "]" * 200_000
    elif shape == "huge":
        text = json.dumps({**config, "annotations": {"a": "x" * (17 << 20)}})
    elif shape == "not-object":
        text = "[]"
    elif shape == "process-string":
        config["process"] = "sh"
    elif shape == "root-number":
        config["root"] = 5
    elif shape == "no-process":
        del config["process"]
    elif shape == "no-root":
        del config["root"]
    elif shape == "namespaces-object":
        config["linux"] = {"namespaces": {"type": "pid"}}
    elif shape == "uid-huge":
        process["user"] = {"uid": 2**64, "gid": 0}
    elif shape == "uid-negative":
        process["user"] = {"uid": -1, "gid": 0}
    elif shape == "console-size":
        process["consoleSize"] = {"height": 70000, "width": 80}
    elif shape == "config-symlink":
        (outside / "config.json").write_text(json.dumps(config))
        (bundle / "config.json").unlink()
        (bundle / "config.json").symlink_to(outside / "config.json")
    elif shape == "rootfs-symlink":
        os.rename(bundle / "rootfs", outside / "rootfs")
        (bundle / "rootfs").symlink_to(outside / "rootfs")
    elif shape == "rootfs-dotdot":
        os.rename(bundle / "rootfs", outside / "rootfs")
        config["root"] = {"path": "../outside/rootfs"}
    if shape != "config-symlink":
        (bundle / "config.json").write_text(text if text is not None else json.dumps(config))
    cid = "hostile-" + shape
    result = oci("create", "--bundle", str(bundle), cid)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"config.json: {field}"), result.stderr
    _nothing_left(oci, cid)


# -- kill, delete, state in odd states ----------------------------------------


def test_delete_force_of_a_running_container_leaves_nothing(oci: Oci, tmp_path: Path) -> None:
    cid, keeper, init = _running(oci, tmp_path)
    exec_pid = _detached(oci, tmp_path, cid)
    with open(f"/proc/{init}/cgroup", encoding="ascii") as handle:
        cgroups = [line.strip().split(":", 2) for line in handle]
    deleting = subprocess.Popen(
        [OCI, "--root", str(oci.root), "delete", "--force", cid], env=oci.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # The exec'd process is re-parented to us (the shim's place): reaped while delete
    # waits, or the container's pid 1 cannot finish exiting.
    os.waitpid(exec_pid, 0)
    assert deleting.wait(timeout=60) == 0
    assert reap(keeper) == 137
    assert not os.path.exists(f"/proc/{init}")
    _nothing_left(oci, cid)
    for _hid, controllers, path in cgroups:
        if controllers in ("pids", "") and path != "/":
            base = "/sys/fs/cgroup/unified" if controllers == "" else "/sys/fs/cgroup/pids"
            if os.path.isdir(base):
                assert not os.path.exists(base + path), path
    for command in (["state"], ["kill"], ["start"], ["delete"]):
        result = oci(*command, cid)
        assert result.returncode == 1 and result.stderr.strip() == f'container "{cid}" does not exist'


def test_a_damaged_or_half_made_state_is_an_error_and_delete_force_cleans_it(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["sleep", "1000"])
    cid, keeper = oci.create(bundle)
    (oci.root / cid / "oci.json").write_text("{not json")
    for command in (["state"], ["kill"], ["start"], ["delete"]):
        result = oci(*command, cid)
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, (command, result.stderr)
        assert "oci.json" in result.stderr
    assert oci("delete", "--force", cid).returncode == 0
    assert reap(keeper) == 137
    _nothing_left(oci, cid)
    (oci.root / "left1").mkdir(mode=0o711)  # create killed right after its mkdir
    assert oci("delete", "left1").stderr.strip() == 'container "left1" does not exist'
    _nothing_left(oci, "left1")
    plain = oci.root / "plain1"  # an lxc-create'd container of the lxcpath: not ours
    plain.mkdir(mode=0o711)
    (plain / "config").write_text("lxc.rootfs.path = /nonexistent\n")
    assert oci("delete", "--force", "plain1").returncode == 0
    assert (plain / "config").exists()


def test_kill_and_state_of_a_stopped_container(oci: Oci, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", ["true"])
    cid, keeper = oci.create(bundle)
    assert oci("start", cid).returncode == 0
    assert reap(keeper) == 0
    deadline = time.monotonic() + 10
    while oci.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    state = json.loads(oci("state", cid).stdout)
    assert state["status"] == "stopped" and state["pid"] == 0
    assert oci("kill", cid, "KILL").stderr.strip() == "container not running"
    assert oci("kill", cid, "NOSUCH").returncode == 1
    assert oci("delete", cid).returncode == 0
    _nothing_left(oci, cid)


def _our_children() -> set[int]:
    """This process's children, running or exited and not waited for."""
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.add(int(entry))
    return found
