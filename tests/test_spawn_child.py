"""The container child (runtime.spawn.child), run for real as root, without the daemon.

The harness plays the two other parties for real, not as mocks: a forked process
acts as the spawner (a child subreaper that forks "A" and calls run_container in
it, then reaps A and the adopted init "B" and reports their wait statuses), and
the test itself acts as the daemon on the other end of the sync socketpair (reads
the pid, sends go, waits for EOF or an error). Rootfs trees are busybox ones built
by the busybox template in tmp_path. Every mount happens in the container's own
mount namespace; the autouse fixture checks that the test process's mount table
is the same afterwards and kills any process a failed test left.
"""

from __future__ import annotations

import errno
import json
import os
import select
import shutil
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.config.model import loads
from runtime.kernel import linux
from runtime.spawn import handshake, initexe, mounts, namespaces, process, resolve, share_names
from runtime.spawn.child import run_container
from runtime.spawn.errors import SetupError
from runtime.spawn.request import ChildRequest
from runtime.storage.templates import TemplateContext, get_template

BUSYBOX = "/bin/busybox"
#: None when `make setup` has not built it: application starts then fail saying so.
INIT_IMAGE = initexe.load_image() if os.path.exists(initexe.INIT_PATH) else None

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(BUSYBOX),
    reason="needs root and busybox-static",
)


# -- the harness ------------------------------------------------------------------------


class Result:
    """What one container run left: messages, wait statuses, output."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.pid: int | None = None
        self.status: int | None = None
        self.stdout = ""
        self.stderr = ""
        self.elapsed = 0.0

    @property
    def error(self) -> str | None:
        for msg in self.messages:
            if msg["step"] == "error":
                return str(msg["message"])
        return None

    @property
    def exit_code(self) -> int:
        assert self.status is not None
        code = os.waitstatus_to_exitcode(self.status)
        return 128 - code if code < 0 else code


class Container:
    """One container start: spawner S -> A -> B, with the test as the daemon."""

    def __init__(
        self,
        workdir: Path,
        config_text: str,
        argv: list[str],
        mode: str = "application",
        name: str = "c1",
        environ: dict[str, str] | None = None,
        init_image: bytes | None = INIT_IMAGE,
    ) -> None:
        self.workdir = workdir
        self.config = loads(config_text)
        self.argv = argv
        self.mode = mode
        self.name = name
        self.environ = environ
        self.init_image = init_image
        self.spawner: int | None = None
        self.result = Result()
        self.sock: socket.socket | None = None
        self.report_fd = -1
        self.started = 0.0

    def start(self) -> Container:
        out = open(self.workdir / "stdout", "w+b")  # noqa: SIM115 - closed in wait()
        err = open(self.workdir / "stderr", "w+b")  # noqa: SIM115
        self.files = (out, err)
        daemon_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stdin = os.open("/dev/null", os.O_RDONLY)
        leak = os.open("/etc/hostname", os.O_RDONLY)  # inheritable: must not reach the payload
        report_r, report_w = os.pipe()
        self.started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the spawner
            try:
                daemon_end.close()
                os.close(report_r)
                linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
                if os.fork() == 0:  # A
                    run_container(
                        ChildRequest(
                            name=self.name,
                            lxcpath=str(self.workdir),
                            mode=self.mode,
                            argv=self.argv,
                            config=self.config,
                            sync=child_end,
                            stdio=(stdin, out.fileno(), err.fileno()),
                            init_image=self.init_image if self.mode == "application" else None,
                            environ=self.environ,
                        )
                    )
                child_end.close()
                statuses: dict[int, int] = {}
                while True:
                    try:
                        child, wait_status = os.waitpid(-1, 0)
                    except ChildProcessError:
                        break
                    statuses[child] = wait_status
                os.write(report_w, json.dumps(statuses).encode())
            finally:
                os._exit(0)
        self.spawner = pid
        child_end.close()
        for fd in (stdin, leak, report_w):
            os.close(fd)
        self.sock, self.report_fd = daemon_end, report_r
        msg = self._recv(10)
        self.result.messages.append(msg)
        if msg["step"] == "pid":
            self.result.pid = int(msg["pid"])
            if msg.get("netns"):
                # As the daemon: the netns handles before "go". A opens them in the
                # mount namespace the init mounts its /proc in once it has "go".
                data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
                for fd in fds:
                    os.close(fd)
                handles = handshake.decode_msg(data)
                if handles is None or handles.get("step") != "netns":
                    self.result.messages.append(handles or {"step": "EOF"})
                    return self
            handshake.send_msg(self.sock, {"step": "go"})
        return self

    def _recv(self, timeout: float) -> dict[str, object]:
        assert self.sock is not None
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError("no message from the container child")
        msg = handshake.recv_msg(self.sock)
        return msg if msg is not None else {"step": "EOF"}

    def wait_started(self, timeout: float = 10) -> None:
        """Until EOF (started) or an error on the sync socket."""
        while self.result.messages[-1]["step"] not in ("EOF", "error"):
            self.result.messages.append(self._recv(timeout))

    def read_stdout(self) -> str:
        return (self.workdir / "stdout").read_text()

    def wait(self, timeout: float = 15) -> Result:
        self.wait_started(timeout)
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.report_fd], [], [], deadline - time.monotonic())
            if not ready:
                raise TimeoutError("the container did not exit")
            chunk = os.read(self.report_fd, 65536)
            if not chunk:
                break
            data += chunk
        self.result.elapsed = time.monotonic() - self.started
        statuses = {int(k): v for k, v in json.loads(data or b"{}").items()}
        assert self.spawner is not None
        os.waitpid(self.spawner, 0)
        self.spawner = None
        if self.result.pid in statuses:
            self.result.status = statuses[self.result.pid]
        for handle in self.files:
            handle.close()
        self.result.stdout = (self.workdir / "stdout").read_text()
        self.result.stderr = (self.workdir / "stderr").read_text()
        return self.result

    def cleanup(self) -> None:
        """Kill what a failed test left: the init (its pid namespace dies with it), S."""
        for pid in (self.result.pid, self.spawner):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.spawner:
            os.waitpid(self.spawner, 0)
        for handle in getattr(self, "files", ()):
            handle.close()
        if self.sock is not None:
            self.sock.close()
        if self.report_fd >= 0:
            os.close(self.report_fd)
            self.report_fd = -1


def host_mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return sorted(line.split()[4] for line in handle)


@pytest.fixture
def run(tmp_path: Path) -> Iterator:
    """run(config_text, argv, ...) -> Result; leftovers are killed, mounts compared."""
    before = host_mountpoints()
    started: list[Container] = []

    def start(config_text: str, argv: list[str], **kwargs: object) -> Container:
        workdir = tmp_path / f"run{len(started)}"
        workdir.mkdir()
        container = Container(workdir, config_text, argv, **kwargs)
        started.append(container)
        return container.start()

    def run_one(config_text: str, argv: list[str], **kwargs: object) -> Result:
        return start(config_text, argv, **kwargs).wait()

    run_one.start = start
    yield run_one
    for container in started:
        container.cleanup()
    assert host_mountpoints() == before


def busybox_rootfs(base: Path, name: str = "c1") -> tuple[Path, str]:
    """A busybox rootfs under `base` and the config text the template asks for."""
    rootfs = base / name / "rootfs"
    rootfs.mkdir(parents=True)
    ctx = TemplateContext(
        name=name, path=str(base / name), rootfs=str(rootfs), final_rootfs=str(rootfs)
    )
    items = get_template("busybox")(ctx)
    lines = [f"lxc.rootfs.path = dir:{rootfs}"] + [f"{key} = {value}" for key, value in items]
    return rootfs, "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def shared_busybox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One busybox rootfs for the tests that do not change it."""
    return busybox_rootfs(tmp_path_factory.mktemp("shared"))


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


# -- application containers: pid 1, pid 2, exit codes, signals -----------------------------


def test_application_pids_title_and_hostname(run, shared_busybox):
    _, config = shared_busybox
    result = run(
        config,
        sh(
            'echo $$; cat /proc/1/comm; tr "\\0" " " </proc/1/cmdline; echo "|"; hostname; ps; '
            "echo init $(ls /proc/1/fd) $(readlink /proc/1/exe); echo fds $(ls /proc/self/fd)"
        ),
        name="app-one",
    )
    assert result.error is None
    assert result.messages[0]["step"] == "pid" and result.messages[-1]["step"] == "EOF"
    lines = result.stdout.splitlines()
    assert lines[:4] == ["2", "init", "init |", "c1"]  # lxc.uts.name from the template
    assert lines[5].split() == ["1", "root", "init"]  # ps: pid 1 is init, not python
    assert lines[-2] == "init 0 1 2 /memfd:trio-lxc-init (deleted)"  # the stdio only
    assert lines[-1] == "fds 0 1 2 3"  # no fd of the spawner or the sync socket
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("argv", "code"),
    [(sh("exit 7"), 7), (sh("kill -9 $$"), 137), (sh("kill -TERM $$"), 143), (["/nonexistent"], 255)],
)
def test_application_exit_codes(run, shared_busybox, argv, code):
    """The init exits with the application's code, or 128+N for signal N (as lxc-init)."""
    _, config = shared_busybox
    result = run(config, argv)
    assert result.error is None  # a missing binary fails after the start, as in LXC
    assert result.status is not None and os.WIFEXITED(result.status)
    assert result.exit_code == code
    if argv == ["/nonexistent"]:
        assert 'lxc-execute: c1: Failed to exec "/nonexistent": No such file or directory' in (
            result.stderr
        )


def test_environment_is_exactly_container_plus_config(run, shared_busybox):
    _, config = shared_busybox
    config += "lxc.environment = FOO=bar\nlxc.environment = BAZ\nlxc.environment = UNSET\n"
    result = run(config, ["env"], environ={"BAZ": "qux", "HOME": "/root"})
    assert sorted(result.stdout.splitlines()) == ["BAZ=qux", "FOO=bar", "container=lxc"]


def test_reaper_waits_for_background_children(run, shared_busybox):
    _, config = shared_busybox
    result = run(config, sh("sleep 1 & exit 0"))
    assert result.exit_code == 0
    assert result.elapsed >= 1.0


def test_signals_are_forwarded_every_one(run, shared_busybox):
    _, config = shared_busybox
    container = run.start(
        config,
        sh(
            "trap 'a=1' USR1; trap 'b=1' USR2; echo ready; "
            'while [ -z "$a" ] || [ -z "$b" ]; do sleep 0.05; done; echo both; exit 3'
        ),
    )
    container.wait_started()
    deadline = time.monotonic() + 10
    while "ready" not in container.read_stdout():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(container.result.pid, signal.SIGUSR1)
    os.kill(container.result.pid, signal.SIGUSR2)
    result = container.wait()
    assert result.stdout.splitlines() == ["ready", "both"]
    assert result.exit_code == 3


@pytest.mark.parametrize("pid_ns", ["own", "kept"])
def test_sigterm_after_the_app_kills_the_rest(run, shared_busybox, pid_ns):
    """Own pid namespace: kill(-1). Kept (the host's): a subreaper, descendants from /proc."""
    _, config = shared_busybox
    if pid_ns == "kept":
        config += "lxc.namespace.keep = pid\n"
    container = run.start(config, sh("(trap '' TERM; echo up; sleep 30) & exit 0"))
    container.wait_started()
    deadline = time.monotonic() + 10
    while "up" not in container.read_stdout():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.1)  # the app has exited; the orphan ignores SIGTERM
    sent = time.monotonic()
    os.kill(container.result.pid, signal.SIGTERM)
    result = container.wait()
    assert result.exit_code == 0  # the application's status, not the orphan's
    assert 1.0 <= time.monotonic() - sent < 5


def test_application_without_a_pid_namespace(run, shared_busybox):
    """The init is a child subreaper: it still waits for the app's orphans."""
    _, config = shared_busybox
    result = run(
        config + "lxc.namespace.keep = pid\n",
        sh("(sleep 1; echo orphan) & echo $$; cat /proc/$PPID/comm; exit 3"),
    )
    assert result.error is None, result.error
    lines = result.stdout.split()
    assert int(lines[0]) > 2 and lines[1:] == ["init", "orphan"]
    assert result.exit_code == 3
    assert result.elapsed >= 1.0


def test_application_without_the_init_program_is_refused(run, shared_busybox):
    _, config = shared_busybox
    result = run(config, sh("true"), init_image=None)
    assert result.error == initexe.NOT_BUILT
    assert result.error.endswith("is not built: run `make setup`")
    assert result.messages == [{"step": "error", "message": initexe.NOT_BUILT}]  # before any fork


# -- system containers: isolation --------------------------------------------------------


def test_system_container_isolation(run, shared_busybox, tmp_path):
    _, config = shared_busybox
    script = (
        "echo $$; hostname; ls /proc | grep -c '^[0-9]'; "
        "stat -c %F /dev/null; grep ' /dev/pts ' /proc/self/mountinfo; "
        "echo fds $(ls /proc/self/fd); cat /proc/net/dev | grep -c ':'; "
        "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; "
        "echo mounts; cut -d' ' -f5 /proc/self/mountinfo"
    )
    result = run(config + "lxc.uts.name = sys-one\n", sh(script), mode="system")
    assert result.error is None
    assert result.exit_code == 0
    out = result.stdout.splitlines()
    assert out[0] == "1"  # the command itself is pid 1
    assert out[1] == "sys-one"
    assert int(out[2]) <= 4
    assert out[3] == "character special file"
    assert "devpts" in out[4] and "ptmxmode=666" in out[4] and "gid=5" in out[4]
    assert out[5] == "fds 0 1 2 3"  # 3 is ls's own directory fd
    assert out[6] == "1"  # a new network namespace: lo only
    assert int(out[8], 16) & 1  # lo is up
    mountpoints = out[out.index("mounts") + 1 :]
    allowed = ("/proc", "/sys", "/dev")
    assert mountpoints[0] == "/"
    assert all(m.startswith(allowed) for m in mountpoints[1:]), mountpoints
    assert not any(str(tmp_path) in m or m.startswith("/work") for m in mountpoints)


def test_system_exec_failure_is_an_error(run, shared_busybox):
    _, config = shared_busybox
    result = run(config, ["/sbin/nothing-here"], mode="system")
    assert result.error == 'Failed to exec "/sbin/nothing-here": No such file or directory'
    assert result.exit_code == 1


def test_cgroup_force_mounts_the_hierarchies(run, shared_busybox):
    _, config = shared_busybox
    config += "lxc.mount.auto = cgroup:mixed:force\n"
    script = "ls /sys/fs/cgroup; echo --; tail -n1 /proc/self/cgroup; touch /sys/fs/cgroup/x"
    result = run(config, sh(script), mode="system")
    assert result.error is None
    listing, rest = result.stdout.split("--\n")
    names = set(listing.split())
    with open("/proc/self/mountinfo") as handle:
        host = {
            line.split()[4].rsplit("/", 1)[1]
            for line in handle
            if " - cgroup" in line and line.split()[4].startswith("/sys/fs/cgroup/")
        }
    assert names == host
    assert rest.splitlines()[0] == "0::/"  # a cgroup namespace rooted at our cgroup
    assert "Read-only file system" in result.stderr  # the tmpfs itself is read-only


def test_capabilities_keep_and_process_settings(run, shared_busybox):
    _, config = shared_busybox
    config = config.replace("lxc.cap.drop = sys_module mac_admin mac_override sys_time\n", "")
    config += (
        "lxc.cap.keep = sys_admin net_admin\nlxc.prlimit.nofile = 100:200\n"
        "lxc.proc.oom_score_adj = 100\nlxc.sysctl.net.ipv4.ip_forward = 1\n"
        "lxc.no_new_privs = 1\nlxc.init.cwd = /tmp\n"
    )
    script = (
        "grep CapBnd /proc/self/status; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; "
        "cat /proc/sys/net/ipv4/ip_forward; grep NoNewPrivs /proc/self/status; pwd"
    )
    result = run(config, sh(script), mode="system")
    assert result.error is None
    out = result.stdout.split()
    assert int(out[1], 16) == (1 << 21) | (1 << 12)
    assert out[2:] == ["100", "200", "100", "1", "NoNewPrivs:", "1", "/tmp"]


def start_with_model_edit(tmp_path: Path, config_text: str, edit, argv: list[str]) -> Result:
    """A system container whose config model is changed after parsing: names the
    parser refuses, as a model built without the parser could hold them."""
    workdir = tmp_path / f"edit{len(list(tmp_path.glob('edit*')))}"
    workdir.mkdir()
    container = Container(workdir, config_text, argv, mode="system")
    edit(container.config)
    try:
        return container.start().wait()
    finally:
        container.cleanup()


@pytest.mark.parametrize(
    ("family", "name"),
    [
        ("sysctl", "kernel/../../..{victim}"),  # /proc/sys/kernel/../../.. is /
        ("sysctl", "net.ipv4/../../../..{victim}"),
        ("proc", "../..{victim}"),  # /proc/self/../.. is /
    ],
)
def test_sysctl_and_proc_names_are_checked_where_they_are_written(
    run, shared_busybox, tmp_path, family, name
):
    """Defence in depth: lxc.sysctl.* and lxc.proc.* names that bypass the parser
    (`..` and `/` in them) used to be joined to /proc/sys or /proc/self as they were.
    An lxc.proc name reached any host file (the child writes it as root through the
    host's /proc: the victim said "pwned"); a sysctl name's dots turned `..` into
    `//`, which only made the write fail obscurely. Now the child refuses both
    before opening anything, naming the key."""
    _, config = shared_busybox
    victim = tmp_path / "victim"
    victim.write_text("host\n")
    key = name.format(victim=victim)
    result = start_with_model_edit(
        tmp_path, config, lambda model: getattr(model, family).update({key: "pwned"}), sh("echo ran")
    )
    assert victim.read_text() == "host\n"
    assert result.error is not None and result.error.startswith(f"lxc.{family}.{key}: "), result.error
    assert "is not a" in result.error
    assert result.stdout == ""


def test_proc_magic_links_are_not_followed():
    """A name that passes the check but is a magic link of /proc/self (exe, root,
    cwd) is not opened through it."""
    model = loads("lxc.proc.exe = x\n")
    with pytest.raises(SetupError, match=r"^lxc\.proc\.exe: cannot write 'x' to /proc/self/exe: Too many levels"):
        process.apply_proc(model)


@pytest.mark.parametrize("opener", [process.open_beneath, process.open_by_components])
def test_beneath_openers_refuse_symlinks(tmp_path, opener):
    """Both ways to open a sysctl or /proc file (openat2; one component at a time
    before Linux 5.6) open plain files below the directory and follow no symlink."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "file").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "filelink").symlink_to(tmp_path / "real" / "file")
    dir_fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    proc_sys = os.open("/proc/sys", os.O_PATH | os.O_DIRECTORY)
    proc_self = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY)
    try:
        os.close(opener(dir_fd, "real/file"))
        os.close(opener(proc_sys, "net/ipv4/ip_forward"))  # opened for writing, nothing written
        for anchor, name in ((dir_fd, "link/file"), (dir_fd, "real/filelink"), (proc_self, "exe")):
            with pytest.raises(OSError) as raised:
                os.close(opener(anchor, name))
            assert raised.value.errno in (errno.ELOOP, errno.ENOTDIR), (name, raised.value)
    finally:
        for fd in (dir_fd, proc_sys, proc_self):
            os.close(fd)


def test_init_uid_gid(run, shared_busybox):
    _, config = shared_busybox
    config += "lxc.init.uid = 1000\nlxc.init.gid = 1001\nlxc.init.groups = 1002,1003\n"
    result = run(config, sh("id -u; id -g; id -G; grep CapEff /proc/self/status"))
    assert result.error is None
    assert result.stdout.split() == ["1000", "1001", "1001", "1002", "1003", "CapEff:", "0" * 16]
    assert result.exit_code == 0


# -- rootfs and mounts --------------------------------------------------------------------


def test_read_only_rootfs(run, shared_busybox):
    _, config = shared_busybox
    result = run(config + "lxc.rootfs.options = ro\n", sh("touch /x; echo rc=$?; touch /dev/y"))
    assert result.error is None
    assert result.stdout.strip() == "rc=1"
    assert "Read-only file system" in result.stderr
    assert result.exit_code == 0  # /dev is a tmpfs of its own


def test_fstab_binds_host_directories_read_only(run, tmp_path):
    """The seed's sshd example: an empty tree with the host's /lib /bin /usr /sbin bound in."""
    rootfs = tmp_path / "sshd" / "rootfs"
    for directory in ("bin", "lib", "lib64", "usr", "sbin", "etc", "tmp"):
        (rootfs / directory).mkdir(parents=True)
    fstab = tmp_path / "sshd" / "fstab"
    lines = [f"/{d} {rootfs}/{d} none ro,bind 0 0" for d in ("lib", "bin", "usr", "sbin")]
    lines.append("/lib64 lib64 none ro,bind,optional 0 0")  # relative target
    fstab.write_text("# the sshd example\n" + "\n".join(lines) + "\n")
    config = f"lxc.rootfs.path = {rootfs}\nlxc.mount.fstab = {fstab}\n"
    probe = "/usr/.trio-lxc-ro-probe"
    try:
        result = run(config, sh(f"echo $$; ls /; touch {probe}; echo rc=$?"))
    finally:
        if os.path.exists(probe):
            os.unlink(probe)
    assert result.error is None, result.error
    out = result.stdout.split()
    assert out[0] == "2"
    assert {"bin", "lib", "usr", "sbin", "dev", "proc"} <= set(out[1:-1])
    assert out[-1] == "rc=1"
    assert "Read-only file system" in result.stderr


def test_mount_entries(run, tmp_path):
    rootfs, config = busybox_rootfs(tmp_path)
    config += (
        "lxc.mount.entry = tmpfs data/scratch tmpfs size=1m,create=dir 0 0\n"
        "lxc.mount.entry = /nonexistent-source mnt/x none bind,optional,create=dir 0 0\n"
        "lxc.mount.entry = /etc/hostname /etc/host-hostname none bind,ro,create=file 0 0\n"
        "lxc.mount.entry = proc /mnt/proc2 proc defaults,create=dir 0 0\n"
    )
    script = (
        "grep ' /data/scratch ' /proc/self/mountinfo | cut -d' ' -f9; "
        "cat /etc/host-hostname; echo x > /etc/host-hostname; echo rc=$?; ls /mnt/proc2/1/comm"
    )
    result = run(config, sh(script))
    assert result.error is None, result.error
    out = result.stdout.splitlines()
    assert out[0] == "tmpfs"
    assert out[1] == Path("/etc/hostname").read_text().strip()
    assert out[2] == "rc=1"
    assert out[3] == "/mnt/proc2/1/comm"
    assert (rootfs / "mnt" / "x").is_dir()  # created, then the optional bind was skipped
    assert (rootfs / "etc" / "host-hostname").is_file()


def test_symlinks_cannot_point_mounts_at_the_host(run, tmp_path):
    host_target = tmp_path / "host-target"
    host_target.mkdir()
    (host_target / "marker").write_text("host\n")
    rootfs, config = busybox_rootfs(tmp_path)
    os.symlink(str(host_target), rootfs / "evil")
    os.symlink("../" * 12 + str(host_target).lstrip("/"), rootfs / "evil2")
    entries = (
        "lxc.mount.entry = tmpfs evil tmpfs size=1m,create=dir 0 0\n"
        "lxc.mount.entry = tmpfs evil2/sub tmpfs size=1m,create=dir 0 0\n"
    )
    result = run(
        config + entries, sh(f"grep -c ' {host_target}' /proc/self/mountinfo; ls -A {host_target}")
    )
    assert result.error is None, result.error
    out = result.stdout.split()
    assert out[0] == "2"  # both mounts landed on <rootfs>/<host_target>, inside
    assert "marker" not in out
    assert (rootfs / str(host_target).lstrip("/")).is_dir()  # create=dir made it inside
    assert (host_target / "marker").read_text() == "host\n"
    assert sorted(os.listdir(host_target)) == ["marker"]

    # Without create=dir a target missing inside the rootfs is an error, even though
    # the same path exists on the host.
    other = tmp_path / "host-target-2"
    other.mkdir()
    os.symlink(str(other), rootfs / "evil3")
    result = run(config + "lxc.mount.entry = tmpfs evil3 tmpfs defaults 0 0\n", sh("true"))
    assert result.error is not None and result.error.startswith("lxc.mount.entry: ")
    assert "No such file or directory" in result.error


def test_rootfs_without_proc_sys_dev_gets_them(run, tmp_path):
    rootfs, config = busybox_rootfs(tmp_path)
    for directory in ("proc", "sys", "dev"):
        shutil.rmtree(rootfs / directory)
    result = run(config, sh("cat /proc/1/comm; ls -d /sys/class/net; stat -c %F /dev/zero"))
    assert result.error is None, result.error
    assert result.stdout.splitlines() == ["init", "/sys/class/net", "character special file"]
    for directory in ("proc", "sys", "dev"):  # the one change setup makes on its own
        assert stat.S_IMODE((rootfs / directory).stat().st_mode) == 0o755


def test_host_root_container(run):
    """No lxc.rootfs.path: the host's root in a private mount namespace, a fresh /proc."""
    result = run(
        "lxc.uts.name = vol\n",
        sh("echo $$; ls /proc | grep -c '^[0-9]'; hostname; test -d /work && echo host"),
        name="vol",
    )
    assert result.error is None, result.error
    out = result.stdout.split()
    assert out[0] == "2"
    assert int(out[1]) <= 4
    assert out[2:] == ["vol", "host"]


def test_setup_error_names_the_key_and_leaves_nothing(run):
    result = run("lxc.rootfs.path = /nowhere/at-all\n", sh("true"))
    assert result.error == "lxc.rootfs.path: '/nowhere/at-all' does not exist"
    assert result.exit_code == 1
    assert result.messages[-1]["step"] == "error"
    # (the fixture checks that the host's mount table did not change)


def test_storage_types_not_built_here_are_refused(run):
    result = run("lxc.rootfs.path = zfs:pool/c1\n", sh("true"))
    assert result.error == "lxc.rootfs.path: storage type 'zfs' is not supported (dir, overlay, loop)"


def test_overlay_rootfs_with_missing_directories_names_them(run, tmp_path):
    """The mount point (`<dir>/rootfs` beside `overlay/delta`), then each layer."""
    result = run(f"lxc.rootfs.path = overlay:/nowhere/lower:{tmp_path}/c/overlay/delta\n", sh("true"))
    assert result.error == (
        f"lxc.rootfs.path: cannot mount 'overlay:/nowhere/lower:{tmp_path}/c/overlay/delta' on "
        f"'{tmp_path}/c/rootfs': the mount point '{tmp_path}/c/rootfs': No such file or directory"
    )
    (tmp_path / "c/rootfs").mkdir(parents=True)
    result = run(f"lxc.rootfs.path = overlay:/nowhere/lower:{tmp_path}/c/overlay/delta\n", sh("true"))
    assert result.error is not None and "the overlay's lower directory '/nowhere/lower'" in result.error


def test_no_go_means_exit_without_a_word(tmp_path):
    """A daemon that gives up just closes its end: the child exits 1 silently."""
    daemon_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    config = loads("lxc.namespace.clone = uts\n")
    null = os.open("/dev/null", os.O_RDWR)
    pid = os.fork()
    if pid == 0:
        daemon_end.close()
        run_container(
            ChildRequest(
                name="c",
                lxcpath=str(tmp_path),
                mode="system",
                argv=["/bin/true"],
                config=config,
                sync=child_end,
                stdio=(null, null, null),
            )
        )
    child_end.close()
    os.close(null)
    msg = handshake.recv_msg(daemon_end)
    assert msg == {"step": "pid", "pid": pid}  # no pid namespace: A is the init
    daemon_end.close()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1


# -- units: resolution, options, namespaces, handshake ----------------------------------


def test_walk_in_root_matches_openat2(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "etc").mkdir()
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../..", root / "a" / "up")
    os.symlink("b", root / "a" / "rel")
    os.symlink("loop", root / "loop")
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for path in ("abs", "a/up/etc", "a/rel", "/a/../a/b", "..", "a/up/a/rel/../../abs"):
            fast = resolve.open_in_root(root_fd, path)
            slow = resolve.walk_in_root(root_fd, path)
            try:
                assert os.readlink(f"/proc/self/fd/{fast}") == os.readlink(f"/proc/self/fd/{slow}")
                assert os.readlink(f"/proc/self/fd/{slow}").startswith(str(root))
            finally:
                os.close(fast)
                os.close(slow)
        for walk in (resolve.open_in_root, resolve.walk_in_root):
            with pytest.raises(OSError):
                walk(root_fd, "loop")
            with pytest.raises(FileNotFoundError):
                walk(root_fd, "abs/missing")
        fd = resolve.make_dirs(root_fd, "abs/new/dir")
        os.close(fd)
        assert (root / "etc" / "new" / "dir").is_dir()
    finally:
        os.close(root_fd)


def test_parse_options():
    opts = mounts.parse_options("ro,bind,nosuid,create=dir,optional,size=1m,rslave,noauto")
    assert opts.bind and opts.optional and opts.create == "dir"
    assert opts.flags & linux.MS_RDONLY and opts.flags & linux.MS_NOSUID
    assert opts.data_text == "size=1m"
    assert opts.propagation == [linux.MS_SLAVE | linux.MS_REC]
    assert mounts.parse_options("rbind").flags == linux.MS_BIND | linux.MS_REC
    with pytest.raises(ValueError, match="create=dir or create=file"):
        mounts.parse_options("create=fifo")


def test_namespace_plans():
    app = namespaces.plan(loads(""), "application")
    assert app.new == {"pid", "ipc", "mnt", "uts", "net", "cgroup"} and app.needs_fork  # as LXC
    app_net = namespaces.plan(loads("lxc.net.0.type = empty\n"), "application")
    assert "net" in app_net.new
    system = namespaces.plan(loads(""), "system")
    assert system.new == {"uts", "ipc", "pid", "mnt", "net", "cgroup"}
    assert not system.unshare_flags & linux.CLONE_NEWCGROUP  # the init does it after go
    host_net = namespaces.plan(loads("lxc.net.0.type = none\n"), "system")
    assert "net" not in host_net.new
    mixed = namespaces.plan(loads("lxc.net.0.type = none\nlxc.net.1.type = empty\n"), "application")
    assert "net" in mixed.new  # LXC shares the host's only when every device is none
    cfg = loads(
        "lxc.namespace.clone = uts ipc\nlxc.namespace.keep = ipc\n"
        "lxc.namespace.share.net = 1\nlxc.namespace.share.pid = other\n"
    )
    assert share_names.shared_container_names(cfg) == {"pid": "other"}
    with pytest.raises(namespaces.SetupError, match="container 'other' is not running"):
        namespaces.plan(cfg, "system")
    cfg.namespace_share["pid"] = "1"
    plan = namespaces.plan(cfg, "system")
    assert plan.new == {"uts"} and plan.share == {"net": "/proc/1/ns/net", "pid": "/proc/1/ns/pid"}
    assert plan.needs_fork


def test_handshake_codec():
    assert handshake.decode_msg(handshake.encode_msg({"step": "go"})) == {"step": "go"}
    assert handshake.decode_msg(b"") is None
    with pytest.raises(handshake.ProtocolError):
        handshake.decode_msg(b"[1]")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        handshake.send_msg(a, {"step": "pid", "pid": 5})
        with pytest.raises(handshake.ProtocolError, match="expected step 'go', got 'pid'"):
            handshake.expect(b, "go")
        a.close()
        assert handshake.recv_msg(b) is None
