"""lxc.hook.*: every hook type runs at LXC's moment and place, on real containers.

Each hook is a small shell script that writes what it sees (its arguments, LXC's
variables, its namespaces, the mounts at LXC_ROOTFS_MOUNT, the container's cgroups)
to a file under the test's tmp_path (the start hook, which runs inside the
container, writes into the rootfs), and appends its tag to an `order` file. The
tag is the first word of the hook's value, so LXC's own arguments follow it.
What the files say is compared with what the host and the container's init show.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import BIN, Cli

from runtime.hooks import plan

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)

DUMP = r"""#!/bin/sh
tag=$1; shift
d=@OUT@
[ -d "$d" ] || d=/hookout
f="$d/$tag"
{
  echo "argc=$#"
  echo "args=$*"
  env | grep '^LXC_' | sort
  for n in mnt pid uts ipc net cgroup; do echo "ns_$n=$(readlink /proc/self/ns/$n)"; done
  for w in "$@"; do
    case "$w" in *:/proc/*) echo "nsarg_${w%%:*}=$(readlink "${w#*:}")";; esac
  done
  [ -n "$LXC_MNT_NS" ] && echo "nsenv_mnt=$(readlink "$LXC_MNT_NS")"
  [ -n "$LXC_NET_NS" ] && echo "nsenv_net=$(readlink "$LXC_NET_NS")"
  echo "pwd=$(pwd)"
  echo "rootfs_mounts=$(grep -c " ${LXC_ROOTFS_MOUNT:-/nonexistent} " /proc/self/mountinfo)"
  echo "dev_mounts=$(grep -c " ${LXC_ROOTFS_MOUNT:-/nonexistent}/dev " /proc/self/mountinfo)"
  echo "proc_mounted=$([ -e "$LXC_ROOTFS_MOUNT/proc/self" ] && echo yes || echo no)"
  echo "mark_at_root=$([ -e /hookmark ] && echo yes || echo no)"
  echo "dev_null=$([ -c "$LXC_ROOTFS_MOUNT/dev/null" ] && echo yes || echo no)"
  echo "slash_dev_null=$([ -c /dev/null ] && echo yes || echo no)"
  echo "pid1_exe=$(readlink /proc/1/exe 2>/dev/null || echo denied)"
  echo "cgroups=$(ls -d /sys/fs/cgroup/*/lxc.payload."$LXC_NAME" 2>/dev/null | wc -l)"
} > "$f"
echo "$tag" >> "$d/order"
"""

ALL_TYPES = ("pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop", "post-stop")


def unique(prefix: str = "hk") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hook_env(runtime: Cli, tmp_path: Path) -> Path:
    """The output directory of the hooks; the dump script at <tmp>/dump.sh."""
    out = tmp_path / "hookout"
    out.mkdir()
    script = tmp_path / "dump.sh"
    script.write_text(DUMP.replace("@OUT@", str(out)))
    script.chmod(0o755)
    return out


@pytest.fixture
def container(runtime: Cli, tmp_path: Path, hook_env: Path) -> str:
    """A created busybox container whose rootfs has the dump script and /hookout."""
    name = unique()
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    rootfs = runtime.lxcpath / name / "rootfs"
    (rootfs / "hookout").mkdir()
    (rootfs / "dump.sh").write_text((tmp_path / "dump.sh").read_text())
    (rootfs / "dump.sh").chmod(0o755)
    (rootfs / "hookmark").write_text("")
    return name


def add_config(cli: Cli, name: str, text: str) -> None:
    with (cli.lxcpath / name / "config").open("a") as handle:
        handle.write(text)


def read(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


def host_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def state(cli: Cli, name: str) -> str:
    return cli("lxc-info", "-n", name, "-sH").stdout.strip()


def hook_lines(tmp_path: Path, types: tuple[str, ...] = ALL_TYPES) -> str:
    dump = tmp_path / "dump.sh"
    lines = []
    for kind in types:
        command = f"/dump.sh {kind}" if kind == "start" else f"{dump} {kind}"
        lines.append(f"lxc.hook.{kind} = {command}\n")
    return "".join(lines)


# -- every type, both versions --------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1])
def test_each_hook_runs_in_place_with_lxcs_arguments(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path, version: int
) -> None:
    name = container
    rootfs = runtime.lxcpath / name / "rootfs"
    config = runtime.lxcpath / name / "config"
    add_config(runtime, name, f"lxc.hook.version = {version}\n" + hook_lines(tmp_path))
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    pid = int(runtime("lxc-info", "-n", name, "-pH").stdout)
    init_ns = {kind: os.readlink(f"/proc/{pid}/ns/{kind}") for kind in ("mnt", "pid", "uts", "net")}
    assert runtime("lxc-stop", "-n", name).returncode == 0
    assert state(runtime, name) == "STOPPED"

    order = (hook_env / "order").read_text().split()
    assert order == ["pre-start", "pre-mount", "mount", "autodev", "start-host", "stop", "post-stop"]
    assert (rootfs / "hookout" / "order").read_text().split() == ["start"]

    seen = {kind: read(hook_env / kind) for kind in order}
    seen["start"] = read(rootfs / "hookout" / "start")
    for kind, values in seen.items():
        assert values["LXC_NAME"] == name
        assert values["LXC_CONFIG_FILE"] == str(config)
        assert values["LXC_ROOTFS_PATH"] == str(rootfs)
        assert values["LXC_ROOTFS_MOUNT"] == str(rootfs)
        assert values["LXC_HOOK_VERSION"] == str(version)
        assert values["LXC_CGNS_AWARE"] == "1"
        assert values["LXC_LOG_LEVEL"] == "ERROR"
        if version == 0:
            words = [name, "lxc", kind]
            assert values["args"].split()[:3] == words, kind
            assert "LXC_HOOK_TYPE" not in values
        else:
            assert values["LXC_HOOK_TYPE"] == kind and values["LXC_HOOK_SECTION"] == "lxc"
            assert values["argc"] == "0", kind
        assert ("LXC_PID" in values) == (kind in ("start-host", "stop", "post-stop")), kind
        assert ("LXC_TARGET" in values) == (kind in ("stop", "post-stop")), kind

    # pre-start, start-host, stop, post-stop: on the host, in its namespaces.
    for kind in ("pre-start", "start-host", "stop", "post-stop"):
        assert seen[kind]["ns_mnt"] == host_ns("mnt") and seen[kind]["ns_pid"] == host_ns("pid"), kind
        assert seen[kind]["pwd"] == "/"
    assert seen["start-host"]["LXC_PID"] == str(pid)
    assert seen["pre-start"]["cgroups"] == "0"  # before the container's set-up
    assert seen["start-host"]["cgroups"] != "0"
    # pre-mount, mount, autodev: the container's namespaces, before pivot_root.
    for kind in ("pre-mount", "mount", "autodev"):
        for ns in ("mnt", "pid", "uts", "net"):
            assert seen[kind][f"ns_{ns}"] == init_ns[ns], (kind, ns)
        assert seen[kind]["mark_at_root"] == "no"  # the host's root is still /
    assert seen["pre-mount"]["rootfs_mounts"] == "0"  # the rootfs is not mounted yet
    assert seen["mount"]["rootfs_mounts"] != "0" and seen["mount"]["proc_mounted"] == "yes"
    assert seen["autodev"]["dev_mounts"] != "0"
    # As LXC: the autodev hook comes before the nodes of /dev are made (it may make them).
    assert seen["autodev"]["dev_null"] == "no"
    assert seen["start-host"]["dev_null"] == "no"  # the host's view: the mounts are private
    # start: inside the container, after pivot_root.
    for ns in ("mnt", "pid", "uts", "net"):
        assert seen["start"][f"ns_{ns}"] == init_ns[ns], ns
    assert seen["start"]["mark_at_root"] == "yes"
    assert seen["start"]["slash_dev_null"] == "yes"  # /dev was populated after the autodev hook
    # stop: the container's namespaces, held by the daemon; the cgroups still there.
    stop = seen["stop"]
    assert stop["LXC_TARGET"] == "stop" and seen["post-stop"]["LXC_TARGET"] == "stop"
    assert stop["nsenv_mnt"] == init_ns["mnt"] and stop["nsenv_net"] == init_ns["net"]
    if version == 0:
        assert stop["nsarg_mnt"] == init_ns["mnt"] and stop["nsarg_pid"] == init_ns["pid"]
        kinds = [word.split(":")[0] for word in stop["args"].split()[3:]]
        assert kinds == ["mnt", "pid", "uts", "ipc", "net", "cgroup"]  # LXC's order
        assert all(":/proc/" in word for word in stop["args"].split()[3:])
    assert stop["cgroups"] != "0"
    assert seen["post-stop"]["cgroups"] == "0"  # after everything is gone
    assert "LXC_MNT_NS" not in seen["post-stop"]
    assert cgroups_of(name) == []


def test_a_reboot_tells_the_stop_hooks_and_starts_again(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.sh"
    targets = hook_env / "targets"
    add_config(
        runtime, container,
        f"lxc.hook.pre-start = {dump} pre-start\nlxc.hook.stop = {dump} stop\n"
        f"lxc.hook.stop = /bin/sh -c 'echo $LXC_TARGET >> {targets}'\n"
        f"lxc.hook.post-stop = {dump} post-stop\n",
    )  # fmt: skip
    assert runtime("lxc-start", "-n", container).returncode == 0
    first = runtime("lxc-info", "-n", container, "-pH").stdout.strip()
    assert runtime("lxc-stop", "-n", container, "-r").returncode == 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = runtime("lxc-info", "-n", container, "-pH").stdout.strip()
        if now and now != first and state(runtime, container) == "RUNNING":
            break
        time.sleep(0.1)
    assert runtime("lxc-stop", "-n", container, "-k").returncode == 0
    assert targets.read_text().split() == ["reboot", "stop"]
    order = (hook_env / "order").read_text().split()
    assert order == ["pre-start", "stop", "post-stop"] * 2


def test_a_readopted_container_still_tells_its_stop_hook_its_namespaces(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    """A daemon that crashed held the namespace fds; its successor opens them again
    from the live init when it re-adopts the container."""
    from conftest import kill_daemon

    add_config(runtime, container, f"lxc.hook.stop = {tmp_path / 'dump.sh'} stop\n")
    assert runtime("lxc-start", "-n", container).returncode == 0
    pid = int(runtime("lxc-info", "-n", container, "-pH").stdout)
    init_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    kill_daemon(runtime)
    assert runtime("lxc-stop", "-n", container, "-k").returncode == 0
    values = read(hook_env / "stop")
    assert values["nsenv_mnt"] == init_mnt and values["LXC_PID"] == str(pid)
    assert cgroups_of(container) == []


def test_the_start_hook_cannot_look_into_the_host_python_of_pid_1(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    """The start hook is container code running while pid 1 is still the host's
    Python. pid 1 still holds every capability in its permitted set (the bounding
    set is reduced, its own sets only after the hook), so a hook without
    CAP_SYS_PTRACE fails the kernel's ptrace check: no /proc/1/exe, map_files or mem
    leads it to the host's files. (With CAP_SYS_PTRACE kept, a privileged container
    is root on the host anyway, as the README says.)"""
    add_config(runtime, container, "lxc.cap.drop = sys_ptrace\nlxc.hook.start = /dump.sh start\n")
    assert runtime("lxc-start", "-n", container).returncode == 0
    try:
        rootfs = runtime.lxcpath / container / "rootfs"
        assert read(rootfs / "hookout" / "start")["pid1_exe"] == "denied"
    finally:
        assert runtime("lxc-stop", "-n", container, "-k").returncode == 0


def test_several_hooks_of_a_type_run_in_file_order(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.sh"
    add_config(
        runtime, container,
        f"lxc.hook.pre-start = {dump} first\nlxc.hook.mount = {dump} m1\n"
        f"lxc.hook.pre-start = {dump} second\nlxc.hook.mount = {dump} m2\n"
        f"lxc.hook.pre-start = {dump} third\nlxc.hook.start = /dump.sh s1\n"
        "lxc.hook.start = /dump.sh s2\n",
    )  # fmt: skip
    result = runtime("lxc-execute", "-n", container, "--", "true")  # an application container
    assert result.returncode == 0, result.stderr
    assert (hook_env / "order").read_text().split() == ["first", "second", "third", "m1", "m2"]
    rootfs = runtime.lxcpath / container / "rootfs"
    assert (rootfs / "hookout" / "order").read_text().split() == ["s1", "s2"]


def test_an_empty_lxc_hook_clears_the_hooks(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.sh"
    add_config(runtime, container, f"lxc.hook.pre-start = {dump} gone\nlxc.hook =\n")
    result = runtime("lxc-execute", "-n", container, "--", "true")
    assert result.returncode == 0, result.stderr
    assert not (hook_env / "order").exists()


def test_the_value_is_run_by_sh_with_its_arguments(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    """As LXC: `sh -c "exec VALUE NAME lxc TYPE"`: quotes honoured, and what follows a `;`
    never runs (exec replaced the shell)."""
    dump = tmp_path / "dump.sh"
    add_config(
        runtime, container,
        f"lxc.hook.pre-start = {dump} quoted 'two words'; touch {hook_env}/second-command\n",
    )  # fmt: skip
    result = runtime("lxc-execute", "-n", container, "--", "true")
    assert result.returncode == 0, result.stderr
    values = read(hook_env / "quoted")
    # LXC's words land after the `;`, on the command that never runs (so with LXC).
    assert values["args"] == "two words" and values["argc"] == "1"
    assert not (hook_env / "second-command").exists()


# -- failures ----------------------------------------------------------------------------


def _failing(tmp_path: Path) -> Path:
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\necho some output\necho the reason >&2\nexit 3\n")
    script.chmod(0o755)
    return script


def _monitor(cli: Cli, name: str) -> subprocess.Popen[str]:
    monitor = subprocess.Popen(
        [str(BIN / "lxc-monitor"), "-P", str(cli.lxcpath), "-n", name],
        env=cli.env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)  # subscribed (it prints nothing for a stopped container)
    return monitor


def _states(monitor: subprocess.Popen[str]) -> str:
    time.sleep(0.3)
    monitor.send_signal(signal.SIGTERM)
    out, _ = monitor.communicate(timeout=10)
    return out


@pytest.mark.parametrize("kind", ["pre-start", "mount", "start-host", "start"])
def test_a_failing_hook_aborts_the_start_with_nothing_left(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path, kind: str
) -> None:
    failing = _failing(tmp_path)
    rootfs = runtime.lxcpath / container / "rootfs"
    if kind == "start":  # a path inside the container
        (rootfs / "fail.sh").write_text(failing.read_text())
        (rootfs / "fail.sh").chmod(0o755)
        failing = Path("/fail.sh")
    dump = tmp_path / "dump.sh"
    add_config(
        runtime, container,
        f"lxc.hook.{kind} = {failing}\nlxc.hook.autodev = {dump} autodev\n"
        f"lxc.hook.stop = {dump} stop\nlxc.hook.post-stop = {dump} post-stop\n",
    )  # fmt: skip
    monitor = _monitor(runtime, container)
    try:
        result = runtime("lxc-start", "-n", container)
    finally:
        states = _states(monitor)
    assert result.returncode != 0
    assert (
        f"lxc-start: {container}: lxc.hook.{kind}: '{failing}' exited with status 3: the reason"
        in result.stderr
    ), result.stderr
    assert "[ABORTING]" in states and states.rstrip().endswith("[STOPPED]"), states
    assert state(runtime, container) == "STOPPED"
    assert cgroups_of(container) == []
    order = (hook_env / "order").read_text().split() if (hook_env / "order").exists() else []
    if kind == "pre-start":
        assert order == []  # nothing was set up, so nothing to stop
    else:  # the child existed: stop and post-stop run, as LXC runs them
        assert order[-2:] == ["stop", "post-stop"]
        assert ("autodev" in order) == (kind != "mount")


@pytest.mark.parametrize("kind", ["pre-start", "mount"])
def test_a_hook_that_leaves_a_background_process_is_done_when_it_exits(
    runtime: Cli, container: str, tmp_path: Path, kind: str
) -> None:
    """A hook may start a daemon that keeps its stdout: the hook is done at its exit."""
    pid_file = tmp_path / "background.pid"
    add_config(
        runtime, container,
        f"lxc.hook.{kind} = /bin/sh -c 'sleep 30 & echo $! > {pid_file}; echo started'\n",
    )  # fmt: skip
    started = time.monotonic()
    try:
        result = runtime("lxc-start", "-n", container)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 20
    finally:
        if kind == "pre-start" and pid_file.exists():  # on the host (a mount hook's is
            os.kill(int(pid_file.read_text()), signal.SIGKILL)  # in the container)
        runtime("lxc-stop", "-n", container, "-k")


def test_a_hanging_hook_is_killed_after_the_bound(
    runtime: Cli, container: str, tmp_path: Path
) -> None:
    """TRIO_LXC_HOOK_TIMEOUT (read by the daemon) bounds each hook; its session is killed."""
    runtime.env["TRIO_LXC_HOOK_TIMEOUT"] = "1"
    marker = unique("hang")
    for kind in ("pre-start", "mount"):
        config = runtime.lxcpath / container / "config"
        lines = [line for line in config.read_text().splitlines() if not line.startswith("lxc.hook")]
        config.write_text("\n".join(lines) + f"\nlxc.hook.{kind} = /bin/sh -c 'echo {marker}; sleep 600'\n")
        started = time.monotonic()
        result = runtime("lxc-start", "-n", container)
        elapsed = time.monotonic() - started
        assert result.returncode != 0
        assert f"lxc.hook.{kind}: " in result.stderr and "did not exit within 1 s" in result.stderr
        assert "SIGKILL" in result.stderr and marker in result.stderr
        assert elapsed < 20, elapsed
        assert state(runtime, container) == "STOPPED"
        assert cgroups_of(container) == []
        left = subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True, text=True)
        for pid in left.stdout.split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
            assert marker.encode() not in cmdline


# -- lxc-copy and lxc-destroy ------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1])
def test_clone_hooks_run_on_lxc_copy(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path, version: int
) -> None:
    """Debian's clonehostname renames the host in /etc/hosts; LXC_SRC_NAME and the
    `-- ARGS` of lxc-copy reach the hook."""
    dump = tmp_path / "dump.sh"
    clonehostname = "/usr/share/lxc/hooks/clonehostname"
    extra = f"lxc.hook.clone = {clonehostname}\n" if os.path.exists(clonehostname) else ""
    add_config(runtime, container, f"lxc.hook.version = {version}\nlxc.hook.clone = {dump} clone\n{extra}")
    hosts = runtime.lxcpath / container / "rootfs" / "etc" / "hosts"
    hosts.write_text(f"127.0.1.1 {container}\n")
    copy = unique("cp")
    result = runtime("lxc-copy", "-n", container, "-N", copy, "--", "one", "two words")
    assert result.returncode == 0, result.stderr
    values = read(hook_env / "clone")
    copy_dir = runtime.lxcpath / copy
    assert values["LXC_NAME"] == copy and values["LXC_SRC_NAME"] == container
    assert values["LXC_CONFIG_FILE"] == str(copy_dir / "config")
    assert values["LXC_ROOTFS_MOUNT"] == str(copy_dir / "rootfs")
    assert values["LXC_ROOTFS_PATH"] == f"dir:{copy_dir / 'rootfs'}"
    if version == 0:
        assert values["args"] == f"{copy} lxc clone one two words" and values["argc"] == "5"
    else:
        assert values["args"] == "one two words" and values["argc"] == "2"
        assert values["LXC_HOOK_TYPE"] == "clone"
    if extra:
        assert (copy_dir / "rootfs" / "etc" / "hosts").read_text() == f"127.0.1.1 {copy}\n"
    assert hosts.read_text() == f"127.0.1.1 {container}\n"


def test_a_failing_clone_hook_removes_the_copy(
    runtime: Cli, container: str, tmp_path: Path
) -> None:
    add_config(runtime, container, f"lxc.hook.clone = {_failing(tmp_path)}\n")
    copy = unique("cp")
    result = runtime("lxc-copy", "-n", container, "-N", copy)
    assert result.returncode != 0
    assert "lxc.hook.clone: " in result.stderr and "exited with status 3: the reason" in result.stderr
    assert not (runtime.lxcpath / copy).exists()
    assert sorted(os.listdir(runtime.lxcpath)) == [container]


def test_destroy_hooks_run_before_lxc_destroy_removes_it(
    runtime: Cli, container: str, hook_env: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.sh"
    seen = tmp_path / "rootfs-seen"
    add_config(
        runtime, container,
        f"lxc.hook.destroy = {dump} destroy\n"
        f"lxc.hook.destroy = /bin/sh -c 'ls $LXC_ROOTFS_PATH > {seen}'\n",
    )  # fmt: skip
    result = runtime("lxc-destroy", "-n", container)
    assert result.returncode == 0, result.stderr
    values = read(hook_env / "destroy")
    assert values["args"] == f"{container} lxc destroy"
    assert values["LXC_NAME"] == container
    assert values["LXC_ROOTFS_PATH"] == str(runtime.lxcpath / container / "rootfs")
    assert "hookmark" in seen.read_text().split()  # the rootfs was still there
    assert not (runtime.lxcpath / container).exists()


def test_a_failing_destroy_hook_keeps_the_container(
    runtime: Cli, container: str, tmp_path: Path
) -> None:
    config = runtime.lxcpath / container / "config"
    add_config(runtime, container, f"lxc.hook.destroy = {_failing(tmp_path)}\n")
    result = runtime("lxc-destroy", "-n", container)
    assert result.returncode != 0
    assert "lxc.hook.destroy: " in result.stderr and "the reason" in result.stderr
    assert config.exists()
    kept = [line for line in config.read_text().splitlines() if "lxc.hook" not in line]
    config.write_text("\n".join(kept) + "\n")
    assert runtime("lxc-destroy", "-n", container).returncode == 0


# -- the command line (pure) ------------------------------------------------------------------


def test_invocation_quotes_what_it_appends() -> None:
    argv, env = plan.invocation(
        "/x.sh 'a b'", "clone", name="c1", version_1=False, env={"PATH": "/bin"},
        args=["it's", "x y"],
    )  # fmt: skip
    assert argv == ["/bin/sh", "-c", "exec /x.sh 'a b' c1 lxc clone 'it'\"'\"'s' 'x y'"]
    assert env == {"PATH": "/bin"}
    argv, env = plan.invocation(
        "/x.sh", "stop", name="c1", version_1=True, env={}, args_v0_only=["mnt:/proc/1/fd/3"]
    )
    assert argv == ["/bin/sh", "-c", "exec /x.sh"]
    assert env == {"LXC_HOOK_TYPE": "stop", "LXC_HOOK_SECTION": "lxc"}


def test_failure_reasons_name_the_key() -> None:
    assert plan.failure("mount", "/m", 3 << 8, False, 60, b"x\nlast one\n\n") == (
        "lxc.hook.mount: '/m' exited with status 3: last one"
    )
    assert plan.failure("mount", "/m", 0, False, 60, b"fine") is None
    assert plan.failure("stop", "/s", 9, False, 60, b"") == "lxc.hook.stop: '/s' was killed by signal 9"
    assert "did not exit within 2 s and was killed (SIGKILL)" in str(
        plan.failure("start", "/s", 9, True, 2, b"")
    )
    assert plan.log_level_name("1") == "DEBUG" and plan.log_level_name("info") == "INFO"
    assert plan.hook_timeout({"TRIO_LXC_HOOK_TIMEOUT": "2.5"}) == 2.5
    assert plan.hook_timeout({"TRIO_LXC_HOOK_TIMEOUT": "bad"}) == plan.DEFAULT_TIMEOUT


# -- what a hook run by the container child can reach -------------------------------------


def processes_with(word: str) -> list[int]:
    """Host pids whose command line has `word` as one of its arguments."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if word.encode() in args:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("kind", ["mount", "start"])
def test_nothing_a_child_hook_starts_outlives_it(
    runtime: Cli, container: str, tmp_path: Path, kind: str
) -> None:
    """A process a mount or start hook leaves (in its session, or one that moved to
    a session of its own) is killed when the hook exits: none keeps the host's view
    of a mount hook, or runs beside the init without its confinement."""
    seconds = str(7000 + uuid.uuid4().int % 1000)
    add_config(
        runtime, container,
        f"lxc.hook.{kind} = /bin/sh -c 'sleep {seconds} & setsid sleep {seconds} & echo ok'\n",
    )  # fmt: skip
    try:
        result = runtime("lxc-start", "-n", container)
        assert result.returncode == 0, result.stderr
        assert state(runtime, container) == "RUNNING"
        assert processes_with(seconds) == []
    finally:
        runtime("lxc-stop", "-n", container, "-k")
        for pid in processes_with(seconds):
            os.kill(pid, signal.SIGKILL)


PROBE = """#!/bin/sh
{
  echo "env_bytes=$(tr -d '\\000' < /proc/1/environ | wc -c)"
  echo "cmdline=$(tr '\\000' ' ' < /proc/1/cmdline)"
  (exec 3</proc/1/mem) 2>/dev/null && echo mem=open || echo mem=denied
  readlink /proc/1/exe >/dev/null 2>&1 && echo exe=read || echo exe=denied
} > /probe.out
"""


def test_the_start_hook_sees_nothing_of_the_daemon_in_the_init(
    runtime: Cli, container: str
) -> None:
    """While the start hook runs the init is still a process of the host: its
    command line and environment (the daemon's) are blanked before anything runs."""
    rootfs = runtime.lxcpath / container / "rootfs"
    (rootfs / "probe.sh").write_text(PROBE)
    (rootfs / "probe.sh").chmod(0o755)
    add_config(runtime, container, "lxc.hook.start = /probe.sh\n")
    try:
        result = runtime("lxc-start", "-n", container)
        assert result.returncode == 0, result.stderr
        seen = read(rootfs / "probe.out")
        assert seen["env_bytes"].strip() == "0", seen
        assert seen["cmdline"].strip() == "lxc-start", seen
        # After the exec the init shows its own (the container's root reads them).
        result = runtime("lxc-attach", "-n", container, "--", "cat", "/proc/1/cmdline")
        assert result.returncode == 0 and "lxc-start" not in result.stdout, result.stdout
    finally:
        runtime("lxc-stop", "-n", container, "-k")


def test_a_child_error_reaches_the_terminal_without_escapes(
    runtime: Cli, container: str
) -> None:
    """The child's error message (here a mount hook's failure naming its command) is
    shown as one printable line: no escape sequence (OSC 52) reaches the terminal."""
    add_config(runtime, container, "lxc.hook.mount = /bin/false \x1b]52;c;QUFB\x07 \x1b[2J\n")
    result = runtime("lxc-start", "-n", container)
    assert result.returncode != 0
    assert "lxc.hook.mount" in result.stderr and "52;c;QUFB" in result.stderr, result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, repr(result.stderr)
    assert state(runtime, container) == "STOPPED"
    assert cgroups_of(container) == []
