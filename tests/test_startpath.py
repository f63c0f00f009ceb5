"""The lean start path keeps every behaviour (issue 15, the spawner and the child).

- The spawner clones the init straight into its new pid namespace
  (runtime.spawn.pidns_clone): the pid the daemon records is the init's host pid,
  the init is pid 1 inside, and its parent is the spawner.
- trio-lxc-init forks the application itself (`init --run`): the application is
  pid 2, gets exactly its argv and environment, is searched in PATH, and a
  failed exec prints lxc-execute's message with status 255.
- lxc-execute's container has a cgroup namespace of its own, as under LXC 5, so
  `cgroup:mixed` mounts nothing; `lxc.namespace.keep = cgroup` gives the host's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Cli, create_busybox

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)

CONF = "lxc.net.0.type = empty\n"


def _status_field(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_the_recorded_pid_is_the_init_cloned_by_the_spawner(runtime: Cli, tmp_path: Path) -> None:
    name = create_busybox(runtime, tmp_path, CONF, "sp")
    result = runtime("lxc-start", "-n", name, "-d")
    assert result.returncode == 0, result.stderr
    try:
        assert runtime("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "30").returncode == 0
        pid = int(runtime("lxc-info", "-n", name, "-pH").stdout)
        assert _status_field(pid, "NSpid").split() == [str(pid), "1"]  # host pid, pid 1 inside
        parent = int(_status_field(pid, "PPid"))
        assert Path(f"/proc/{parent}/comm").read_text().strip() == "lxc-spawner"
    finally:
        runtime("lxc-stop", "-n", name, "-k")


def test_the_application_is_pid_2_with_its_argv_and_environment(runtime: Cli, tmp_path: Path) -> None:
    config = CONF + "lxc.environment = FOO=bar baz\n"
    name = create_busybox(runtime, tmp_path, config, "sp")
    script = 'echo "$$|$FOO|$1|$2"; cat /proc/1/comm; ls /proc/self/fd'
    result = runtime("lxc-execute", "-n", name, "--", "sh", "-c", script, "x", "a b", "")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2|bar baz|a b|"
    assert lines[1] == "init"
    assert lines[2:] == ["0", "1", "2", "3"]  # stdio and ls's own directory fd: no sync socket


def test_the_application_is_searched_in_path_and_its_failures_reported(
    runtime: Cli, tmp_path: Path
) -> None:
    name = create_busybox(runtime, tmp_path, CONF, "sp")
    found = runtime("lxc-execute", "-n", name, "--", "true")
    assert found.returncode == 0, found.stderr
    for program, reason in (
        ("/nonexistent", "No such file or directory"),
        ("no-such-command", "No such file or directory"),
        ("/etc/passwd", "Permission denied"),
    ):
        result = runtime("lxc-execute", "-n", name, "--", program)
        assert result.returncode == 255, (program, result.stderr)
        assert f'lxc-execute: {name}: Failed to exec "{program}": {reason}' in result.stderr


@pytest.mark.parametrize("keep", [False, True])
def test_execute_has_a_cgroup_namespace_as_lxc(runtime: Cli, tmp_path: Path, keep: bool) -> None:
    config = CONF + ("lxc.namespace.keep = cgroup\n" if keep else "")
    name = create_busybox(runtime, tmp_path, config, "sp")
    script = "readlink /proc/self/ns/cgroup; tail -n1 /proc/self/cgroup; ls /sys/fs/cgroup | wc -l"
    result = runtime("lxc-execute", "-n", name, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    namespace, own, mounted = result.stdout.split()
    host = os.readlink("/proc/self/ns/cgroup")
    if keep:  # the host's namespace, and cgroup:mixed binds the container's cgroups
        assert namespace == host and own != "0::/" and int(mounted) > 0
    else:  # LXC 5: its own namespace rooted at its cgroup, nothing mounted
        assert namespace != host and own == "0::/" and int(mounted) == 0
