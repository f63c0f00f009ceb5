"""Nothing of the host reaches pid 1 of a container: attacks from inside, as container root.

lxc-execute's pid 1 used to be a fork of the spawner: it mapped the host's python
binary and libpython (container root could write to them through
/proc/1/map_files/ and /proc/1/exe) and held an fd on a host file of the run
directory (writable through /proc/1/fd/4, without bound). Each test runs the
attack from inside a real busybox container and checks that it now fails, and
that the host's files did not change. System containers (lxc-start) are checked
for the same: their pid 1 and every other process hold only the fds the
container was given (stdio on its console).

An attack never writes to a file that is not a memfd: a regression makes these
tests fail, not damage the host's Python.
"""

from __future__ import annotations

import glob
import os
import stat
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import Cli

from runtime.client.rundir import records_dir, run_dir

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def busybox(runtime: Cli, tmp_path: Path) -> str:
    """A created busybox container (stopped); returns its name."""
    name = unique("sx")
    conf = tmp_path / "bb.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    result = runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    return name


def host_files_of_python() -> dict[str, tuple[int, int]]:
    """(size, mtime) of the interpreter and every file it maps (libpython, libc, ...).

    The spawner, whose fork pid 1 used to be, runs this same interpreter.
    """
    paths = {os.path.realpath(sys.executable)}
    with open("/proc/self/maps") as handle:
        for line in handle:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/"):
                paths.add(fields[5].strip())
    found = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue
        found[path] = (info.st_size, info.st_mtime_ns)
    return found


def execute(runtime: Cli, name: str, script: str) -> list[str]:
    result = runtime("lxc-execute", "-n", name, "--", "sh", "-c", script)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()


# -- item: nothing of the host is mapped by pid 1 ------------------------------------------

PROBE_MAPPINGS = r"""
echo "exe $(readlink /proc/1/exe)"
echo "environ $(wc -c </proc/1/environ) cmdline $(tr '\0' '|' </proc/1/cmdline)"
awk 'NF >= 6 { print "mapped " $6 }' /proc/1/maps | sort -u
for f in /proc/1/exe /proc/1/map_files/*; do
  target=$(readlink "$f")
  if ( : >>"$f" ) 2>/dev/null; then
    echo "opened-for-writing $f $target"
    case "$target" in
      /memfd:*) if ( echo attack >>"$f" ) 2>/dev/null; then echo "wrote $f"; fi ;;
    esac
  else
    echo "refused $f $target"
  fi
done
"""


def test_pid1_maps_only_its_sealed_memfd(runtime: Cli, busybox: str) -> None:
    before = host_files_of_python()
    lines = execute(runtime, busybox, PROBE_MAPPINGS)
    assert host_files_of_python() == before
    assert lines[0] == "exe /memfd:trio-lxc-init (deleted)"
    assert lines[1] == "environ 0 cmdline init|"  # nothing passed to the init shows
    mapped = [line.removeprefix("mapped ") for line in lines if line.startswith("mapped ")]
    # Only the memfd and the kernel's own areas: no ld.so, no libc, no python.
    assert mapped, lines
    assert all(m.startswith(("/memfd:trio-lxc-init", "[")) for m in mapped), mapped
    assert any(m.startswith("/memfd:trio-lxc-init") for m in mapped)
    refused = [line for line in lines if line.startswith("refused ")]
    assert len(refused) >= 2  # /proc/1/exe and at least the text mapping
    assert not [line for line in lines if line.startswith(("opened-for-writing", "wrote"))]


def test_pid1_memfd_is_sealed(runtime: Cli, busybox: str) -> None:
    """Even read-only, the memfd is sealed: no write, truncate or chmod of its exec bits."""
    # Only ever against a memfd: were /proc/1/exe the host's python again, a chmod or
    # O_TRUNC that works would break the host's interpreter.
    script = (
        'case "$(readlink /proc/1/exe)" in /memfd:*) ;; *) echo not-a-memfd; exit 0;; esac; '
        "( : >/proc/1/exe ) 2>&1; "  # O_TRUNC: refused (busy, and sealed against shrinking)
        "chmod a-x /proc/1/exe 2>&1; echo chmod=$?; "
        "stat -L -c 'mode %a' /proc/1/exe"
    )
    lines = execute(runtime, busybox, script)
    assert "not-a-memfd" not in lines
    text = "\n".join(lines)
    assert "Text file busy" in text or "Operation not permitted" in text, lines
    if kernel_has_seal_exec():
        assert "chmod=1" in lines, lines
        assert lines[-1].startswith("mode ") and int(lines[-1].split()[1], 8) & 0o111


def kernel_has_seal_exec() -> bool:
    import fcntl

    from runtime.spawn.initexe import F_SEAL_EXEC

    fd = os.memfd_create("probe", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, F_SEAL_EXEC)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


# -- item: no fd of the host in pid 1 -------------------------------------------------------


def test_pid1_holds_only_the_stdio(runtime: Cli, busybox: str) -> None:
    script = (
        "echo fds $(ls /proc/1/fd); "
        "for n in 3 4 5 6 7 8 9; do ( echo attack >/proc/1/fd/$n ) 2>/dev/null && echo wrote $n; done; "
        "echo done"
    )
    assert execute(runtime, busybox, script) == ["fds 0 1 2", "done"]


def test_no_status_files_are_left(runtime: Cli, busybox: str) -> None:
    run_root = Path(runtime.env["TRIO_LXC_RUNDIR"])
    execute(runtime, busybox, "true")
    sig = runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", "kill -9 $$")
    assert sig.returncode == 137, sig.stderr
    assert glob.glob(f"{run_root}/**/*.status", recursive=True) == []
    assert runtime("lxc-destroy", "-n", busybox).returncode == 0
    assert glob.glob(f"{run_root}/**/*.status", recursive=True) == []


def test_stale_status_file_is_removed_when_the_daemon_starts(runtime: Cli, busybox: str) -> None:
    """A run directory from before this change may hold `.status` files: they go."""
    from runtime.client.daemon_client import daemon_running

    assert not daemon_running(str(runtime.lxcpath))
    directory = Path(records_dir(str(runtime.lxcpath)))
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / f"{busybox}.status"
    stale.write_text('{"exit_code": 0, "signal": null}\n')
    execute(runtime, busybox, "true")  # starts the daemon
    assert not stale.exists()


# -- system containers: only the fds they were given ---------------------------------------


def container_pids(name: str) -> set[int]:
    pids: set[int] = set()
    for path in glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}/**/cgroup.procs", recursive=True):
        try:
            pids.update(int(p) for p in Path(path).read_text().split())
        except OSError:
            continue
    return pids


def fd_targets(pid: int) -> dict[int, str]:
    found = {}
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(entry)] = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue
    return found


def is_pty_slave(path: str) -> bool:
    info = os.stat(path)
    return stat.S_ISCHR(info.st_mode) and 136 <= os.major(info.st_rdev) <= 143


def test_system_container_init_holds_only_its_console(runtime: Cli, busybox: str) -> None:
    """pid 1 (busybox init, after its exec) holds its console on 0-2 and nothing else:
    not the sync socket, not a pipe or file of the host. Its children (gettys,
    syslogd, the console shell) hold only what it gave them or opened inside."""
    assert runtime("lxc-start", "-n", busybox).returncode == 0
    pid = int(runtime("lxc-info", "-n", busybox, "-pH").stdout)
    targets = fd_targets(pid)
    assert sorted(targets) == [0, 1, 2], targets
    assert all(is_pty_slave(f"/proc/{pid}/fd/{fd}") for fd in targets)
    deadline = time.monotonic() + 10
    while len(container_pids(busybox)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # busybox init starts syslogd, gettys and a console shell
    run = run_dir(str(runtime.lxcpath))
    for member in container_pids(busybox):
        try:
            held = fd_targets(member)
        except FileNotFoundError:
            continue  # exited meanwhile
        for fd, target in held.items():
            assert not target.startswith(("pipe:", run, str(runtime.lxcpath))), (member, fd, target)


def test_execute_container_processes_hold_only_the_callers_stdio(
    runtime: Cli, busybox: str, tmp_path: Path
) -> None:
    """From the host: pid 1 and the application hold exactly the stdio lxc-execute passed."""
    import subprocess

    from conftest import BIN

    argv = [str(BIN / "lxc-execute"), "-P", str(runtime.lxcpath), "-n", busybox, "--", "sleep", "30"]
    out = tmp_path / "out"
    with open(out, "w") as handle:
        process = subprocess.Popen(argv, env=runtime.env, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)
    try:
        # RUNNING is published once pid 1 and the application have both exec'd (before,
        # pid 1 is still the set-up process with its close-on-exec fds).
        waited = runtime("lxc-wait", "-n", busybox, "-s", "RUNNING", "-t", "20")
        assert waited.returncode == 0, waited.stderr
        members = container_pids(busybox)
        assert len(members) == 2
        for member in members:
            targets = fd_targets(member)
            assert sorted(targets) == [0, 1, 2], targets
            assert targets[1] == targets[2] == str(out)
    finally:
        process.kill()
        process.wait()


def test_log_file_in_the_rootfs_is_not_steered_at_the_host(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    """`-o FILE -l TRACE` in the container's rootfs: the container replaces FILE with a
    symlink to a host file before the command writes its trace (it was opened by path
    for each line, after the container ran); a symlink planted before, as FILE or as a
    directory on its way, is refused, and so is a device node."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "exec.log").write_text("host file\n")
    log = runtime.lxcpath / busybox / "rootfs" / "tmp" / "exec.log"
    script = f"ln -sf {decoy}/exec.log /tmp/exec.log"
    result = runtime("lxc-execute", "-n", busybox, "-o", str(log), "-l", "TRACE", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert log.is_symlink()
    result = runtime("lxc-execute", "-n", busybox, "-o", str(log), "-l", "TRACE", "--", "true")
    assert result.returncode == 0, result.stderr  # the command runs, without its log
    assert f"cannot open log file {log}: is a symlink" in result.stderr, result.stderr
    # The directory itself a symlink to a host directory (planted by an earlier run).
    script = f"rm -rf /tmp && ln -s {decoy} /tmp"
    assert runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", script).returncode == 0
    result = runtime("lxc-execute", "-n", busybox, "-o", str(log), "-l", "TRACE", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "a symlink on the way" in result.stderr, result.stderr
    assert sorted(p.name for p in decoy.iterdir()) == ["exec.log"]
    assert (decoy / "exec.log").read_text() == "host file\n"
    # A device node is not opened (a host write to /dev/null's node stands for any).
    rootfs = runtime.lxcpath / busybox / "rootfs"
    (rootfs / "tmp").unlink()
    (rootfs / "tmp").mkdir()
    os.mknod(rootfs / "tmp" / "dev.log", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    result = runtime("lxc-execute", "-n", busybox, "-o", str(rootfs / "tmp" / "dev.log"), "--", "true")
    assert "not a regular file" in result.stderr, result.stderr


def test_log_file_outside_the_lxcpath_is_opened_as_given(runtime: Cli, busybox: str) -> None:
    """Outside the containers' directory -o is the host's: `-o /dev/stderr` works."""
    result = runtime("lxc-execute", "-n", busybox, "-o", "/dev/stderr", "-l", "TRACE", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "TRACE" in result.stderr and "cannot open log file" not in result.stderr, result.stderr


def test_log_file_in_a_rootfs_outside_the_lxcpath_is_not_steered(runtime: Cli, busybox: str, tmp_path: Path) -> None:
    """A rootfs kept outside the lxcpath is the container's too: -o reads where from
    the container's config."""
    outside = tmp_path / "ext-rootfs"
    (runtime.lxcpath / busybox / "rootfs").rename(outside)
    config = runtime.lxcpath / busybox / "config"
    text = config.read_text()
    config.write_text("".join(
        f"lxc.rootfs.path = dir:{outside}\n" if line.startswith("lxc.rootfs.path") else line + "\n"
        for line in text.splitlines()
    ))  # fmt: skip
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    assert runtime("lxc-execute", "-n", busybox, "--", "sh", "-c", f"rm -rf /tmp && ln -s {decoy} /tmp").returncode == 0
    result = runtime("lxc-execute", "-n", busybox, "-o", str(outside / "tmp" / "x.log"), "-l", "TRACE", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "a symlink on the way" in result.stderr, result.stderr
    assert list(decoy.iterdir()) == []
