"""lxc.seccomp.profile and lxc.seccomp.allow_nesting, as LXC 5 applies them.

The daemon compiles the profile (runtime.seccomp) when a start reads the config;
the container's init (lxc-start), the reaper and the application (lxc-execute) and
every lxc-attach'ed process run under the filter (`Seccomp: 2` in their status). A
profile with a bad line fails the start with `FILE:LINE: lxc.seccomp.profile:
reason` and leaves nothing. Real busybox containers; the parser and the compiled
programs are also checked on their own, the programs loaded into forked children
of the test (the real kernel, not a model of it).
"""

from __future__ import annotations

import glob
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import Cli, create_busybox
from test_userns import create, lxcpath, map_lines, subids  # noqa: F401 - fixtures (0711 lxcpath)

from runtime.client.errors import ConfigError
from runtime.seccomp import compile as seccomp_compile
from runtime.seccomp import profile as seccomp_profile
from runtime.spawn import seccomp_load

needs_busybox = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)

COMMON = Path("/usr/share/lxc/config/common.seccomp")

DENY = """2
denylist
# the container may not make directories nor rename itself
mkdir errno 1
mkdirat errno 1
sethostname errno 1
kill errno 1 [1,0,SCMP_CMP_EQ]
"""


def seccomp_of(pid: int | str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return line.split()[1]
    raise AssertionError("no Seccomp line")


def cgroups_of(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}")


def state(cli: Cli, name: str) -> str:
    return cli("lxc-info", "-n", name, "-sH").stdout.strip()


@pytest.fixture
def container(runtime: Cli, tmp_path: Path) -> str:
    """A created busybox container (no network)."""
    return create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "sc")


@contextmanager
def running(cli: Cli, name: str) -> Iterator[None]:
    """The container started for the block, and killed after it, even on failure."""
    result = cli("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    try:
        yield
    finally:
        assert cli("lxc-stop", "-n", name, "-k").returncode == 0


def use_profile(cli: Cli, name: str, path: Path | str, extra: str = "") -> None:
    with (cli.lxcpath / name / "config").open("a") as handle:
        handle.write(f"lxc.seccomp.profile = {path}\n{extra}")


def in_child(action: Callable[[], bool]) -> int:
    """Run `action()` in a forked child of the test; its wait status. The child
    exits 0 when action returns True, 1 when False, 2 on an exception."""
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            code = 0 if action() else 1
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


# -- the parser ---------------------------------------------------------------------


def test_version_2_rules_sections_actions_and_arguments() -> None:
    text = (
        "2\nallowlist errno 38\nread\nwrite allow\n[x86_64]\nmkdir kill # comment\n"
        "[x86]\nsocket trap\n[arm64]\nnot_here_at_all\n[all]\n"
        "personality errno 1 [0,8,SCMP_CMP_EQ] [1,3,&=,2]\nreject_force_umount\n"
    )
    profile = seccomp_profile.parse(text, "p")
    assert profile.default == seccomp_profile.Action("errno", 38)
    rules = [(r.syscall, str(r.action), r.arch, r.line) for r in profile.rules]
    assert rules == [
        ("read", "allow", "all", 3),
        ("write", "allow", "all", 4),
        ("mkdir", "kill", "native", 6),
        ("socket", "trap", "x86", 8),
        ("personality", "errno 1", "all", 12),
        ("umount2", "errno 13", "all", 13),
    ]
    assert profile.rules[4].args == (
        seccomp_profile.ArgCheck(0, 4, 8), seccomp_profile.ArgCheck(1, 7, 3, 2)
    )  # fmt: skip
    assert seccomp_profile.parse("2\nblacklist\nmkdir\n").rules[0].action == seccomp_profile.KILL
    assert seccomp_profile.parse("2\nwhitelist\n").default == seccomp_profile.KILL


def test_sections_follow_the_host_architecture() -> None:
    text = "2\ndenylist\n[x86_64]\na\n[arm64]\nb\n[all]\nc\n[x86]\nd\n[compat]\ne\n"
    on_x86_64 = seccomp_profile.parse(text, "p", "x86_64").rules
    assert [(r.syscall, r.arch) for r in on_x86_64] == [
        ("a", "native"), ("c", "all"), ("d", "x86"), ("e", "compat")
    ]  # fmt: skip
    on_arm64 = seccomp_profile.parse(text, "p", "aarch64").rules
    assert [(r.syscall, r.arch) for r in on_arm64] == [("b", "native"), ("c", "all")]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("3\nallowlist\n", 1, "version"),
        ("2\ngraylist\n", 2, "allowlist or denylist"),
        ("1\ndenylist\n", 2, "allowlist"),
        ("1\nallowlist\n0\nread\n", 4, "not a syscall number"),
        ("2\ndenylist\nmkdir errno x\n", 3, "not an errno number"),
        ("2\ndenylist\nmkdir explode\n", 3, "bad action"),
        ("2\ndenylist\nioctl notify\n", 3, "notify action needs a seccomp notification proxy"),
        ("2\ndenylist\n[vax]\n", 3, "unsupported architecture"),
        ("2\ndenylist\nkill errno 1 [7,0,==]\n", 3, "argument index"),
        ("2\ndenylist\nkill errno 1 [0,0,~=]\n", 3, "unknown operator"),
        ("2\ndenylist\nkill errno 1 [0,0]\n", 3, "bad argument filter"),
    ],
)
def test_bad_lines_name_the_file_and_line(text: str, line: int, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        seccomp_profile.parse(text, "/x/p.seccomp")
    assert str(caught.value).startswith(f"/x/p.seccomp:{line}: lxc.seccomp.profile: ")
    assert says in str(caught.value)


# -- compiled programs in forked children ---------------------------------------------


def test_a_version_1_allowlist_kills_what_it_does_not_list(tmp_path: Path) -> None:
    mkdir = 83  # x86_64
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers of x86_64")
    numbers = "\n".join(str(n) for n in range(0, 460) if n != mkdir)
    bpf = seccomp_compile.compile_profile(seccomp_profile.parse(f"1\nallowlist\n{numbers}\n"))
    target = tmp_path / "d"

    def make_directory() -> bool:
        seccomp_load.load(bpf)
        os.mkdir(target)
        return True

    status = in_child(make_directory)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS
    assert not target.exists()
    assert in_child(lambda: seccomp_load.load(bpf) and os.getpid() > 0) == 0


def test_nesting_is_skipped_unless_allowed() -> None:
    """LXC's use_seccomp: a process already under a filter loads another only with
    lxc.seccomp.allow_nesting = 1."""
    first = seccomp_compile.compile_profile(seccomp_profile.parse("2\ndenylist\nmkdir errno 1\n"))
    second = seccomp_compile.compile_profile(seccomp_profile.parse("2\ndenylist\nrmdir errno 1\n"))

    def nested(allow: bool) -> bool:
        assert seccomp_load.load(first) is True
        loaded = seccomp_load.load(second, allow_nesting=allow)
        try:
            os.rmdir("/nonexistent-seccomp-test-dir")
        except OSError as err:
            return loaded == allow and err.errno == (1 if allow else 2)
        return False

    assert in_child(lambda: nested(False)) == 0
    assert in_child(lambda: nested(True)) == 0


# -- real containers ------------------------------------------------------------------


@needs_busybox
def test_denylist_in_init_attach_and_execute(runtime: Cli, container: str, tmp_path: Path) -> None:
    profile = tmp_path / "deny.seccomp"
    profile.write_text(DENY)
    use_profile(runtime, container, profile)
    with running(runtime, container):
        pid = runtime("lxc-info", "-n", container, "-pH").stdout.strip()
        assert seccomp_of(pid) == "2"
        result = runtime("lxc-attach", "-n", container, "--", "mkdir", "/tmp/x")
        assert result.returncode != 0 and "Operation not permitted" in result.stderr, result.stderr
        result = runtime(
            "lxc-attach", "-n", container, "--", "grep", "Seccomp:", "/proc/self/status"
        )
        assert result.stdout.split() == ["Seccomp:", "2"], result.stdout
        # LXC 5.0.2's lxc-attach: -e CAP / -e CGROUP keep the filter, -e LSM and -e lift it
        for flags, filtered in (("-eCAP", "2"), ("-eCGROUP", "2"), ("-eLSM", "0"), ("-e", "0")):
            result = runtime(
                "lxc-attach", "-n", container, flags, "--", "grep", "Seccomp:", "/proc/self/status"
            )
            assert result.stdout.split() == ["Seccomp:", filtered], (flags, result.stdout)
        result = runtime("lxc-attach", "-n", container, "-eCAP", "--", "hostname", "x")
        assert result.returncode != 0, "-e CAP keeps the filter"
        # the argument filter: kill(pid, 0) is denied, kill(pid, SIGTERM) is not
        script = "sleep 100 & kill -0 $! ; echo zero=$? ; kill -TERM $! ; echo term=$?"
        result = runtime("lxc-attach", "-n", container, "--", "sh", "-c", script)
        assert "zero=1" in result.stdout and "term=0" in result.stdout, (
            result.stdout + result.stderr
        )
    script = "grep Seccomp: /proc/self/status /proc/1/status; mkdir /tmp/y; echo mkdir=$?"
    result = runtime("lxc-execute", "-n", container, "--", "sh", "-c", script)
    lines = result.stdout.split("\n")
    assert "/proc/self/status:Seccomp:\t2" in lines, result.stdout + result.stderr
    assert "/proc/1/status:Seccomp:\t2" in lines, result.stdout
    assert "mkdir=1" in lines and "Operation not permitted" in result.stderr, result.stderr


@needs_busybox
def test_debian_common_seccomp_loads(runtime: Cli, container: str) -> None:
    if not COMMON.exists():
        pytest.skip(f"no {COMMON} here")
    use_profile(runtime, container, COMMON)
    with running(runtime, container):
        pid = runtime("lxc-info", "-n", container, "-pH").stdout.strip()
        assert seccomp_of(pid) == "2"
        assert runtime("lxc-attach", "-n", container, "--", "mkdir", "/tmp/ok").returncode == 0


@needs_busybox
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2\ndenylist\nmkdir errno 1\nrmdir frobnicate\n", "bad action 'frobnicate'"),
        (
            "2\ndenylist\nmkdir errno 1\nioctl notify\n",
            "notify action needs a seccomp notification proxy",
        ),
    ],
    ids=["bad-action", "notify"],
)
def test_a_bad_profile_fails_the_start_with_nothing_left(
    runtime: Cli, container: str, tmp_path: Path, text: str, says: str
) -> None:
    profile = tmp_path / "bad.seccomp"
    profile.write_text(text)
    use_profile(runtime, container, profile)
    result = runtime("lxc-start", "-n", container)
    assert result.returncode != 0
    assert f"{profile}:4: lxc.seccomp.profile: " in result.stderr and says in result.stderr, (
        result.stderr
    )
    assert state(runtime, container) == "STOPPED"
    assert cgroups_of(container) == []
    result = runtime("lxc-execute", "-n", container, "--", "true")
    assert result.returncode != 0 and f"{profile}:4:" in result.stderr, result.stderr


@needs_busybox
def test_a_missing_profile_fails_the_start(runtime: Cli, container: str, tmp_path: Path) -> None:
    use_profile(runtime, container, tmp_path / "absent.seccomp")
    result = runtime("lxc-start", "-n", container)
    assert result.returncode != 0
    assert "lxc.seccomp.profile: cannot read the seccomp profile" in result.stderr, result.stderr
    assert state(runtime, container) == "STOPPED" and cgroups_of(container) == []


@needs_busybox
def test_reject_force_umount_and_attach_with_an_rcfile(
    runtime: Cli, container: str, tmp_path: Path
) -> None:
    """common.seccomp's `reject_force_umount`: umount2(MNT_FORCE) fails with EACCES
    (a plain umount of the same path gets the kernel's own answer). `lxc-attach -f`
    compiles the rcfile's profile itself."""
    if not COMMON.exists():
        pytest.skip(f"no {COMMON} here")
    use_profile(runtime, container, COMMON)
    with running(runtime, container):
        result = runtime("lxc-attach", "-n", container, "--", "umount", "-f", "/nonexistent")
        assert "Permission denied" in result.stderr, result.stderr
        result = runtime("lxc-attach", "-n", container, "--", "umount", "/nonexistent")
        assert "Permission denied" not in result.stderr, result.stderr
        rcfile = tmp_path / "rc.conf"
        rcfile.write_text(f"lxc.seccomp.profile = {tmp_path / 'deny.seccomp'}\n")
        (tmp_path / "deny.seccomp").write_text(DENY)
        result = runtime("lxc-attach", "-n", container, "-f", str(rcfile), "--", "mkdir", "/tmp/rc")
        assert result.returncode != 0 and "Operation not permitted" in result.stderr, result.stderr


@needs_busybox
def test_a_re_adopting_daemon_keeps_the_filter_for_attach(
    runtime: Cli, container: str, tmp_path: Path
) -> None:
    from conftest import kill_daemon

    profile = tmp_path / "deny.seccomp"
    profile.write_text(DENY)
    use_profile(runtime, container, profile)
    with running(runtime, container):
        kill_daemon(runtime)
        assert state(runtime, container) == "RUNNING"  # a new daemon re-adopted it
        assert runtime("lxc-freeze", "-n", container).returncode == 0  # the record is rewritten
        assert runtime("lxc-unfreeze", "-n", container).returncode == 0
        result = runtime("lxc-attach", "-n", container, "--", "mkdir", "/tmp/x")
        assert result.returncode != 0 and "Operation not permitted" in result.stderr, result.stderr


@needs_busybox
def test_the_session_keyring_is_made_before_the_filter(
    runtime: Cli, container: str, tmp_path: Path
) -> None:
    """As LXC (its own common.seccomp denies keyctl): the container's session keyring
    is joined before the filter is loaded, so a profile that denies keyctl does not
    leave the container with the daemon's keyring."""
    import sys

    profile = tmp_path / "keyctl.seccomp"
    profile.write_text("2\ndenylist\nkeyctl errno 38 [0,1,SCMP_CMP_EQ]\n")  # JOIN_SESSION_KEYRING
    use_profile(runtime, container, profile)
    show = (
        "from runtime.kernel import linux; "
        "print(linux.keyctl(linux.KEYCTL_GET_KEYRING_ID, linux.KEY_SPEC_SESSION_KEYRING))"
    )
    repo = Path(__file__).parent.parent
    result = runtime(
        "lxc-execute", "-n", container, "-s", "lxc.rootfs.path=",
        "-s", f"lxc.environment=PYTHONPATH={repo}", "--", sys.executable, "-c", show,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from runtime.kernel import linux

    ours = linux.keyctl(linux.KEYCTL_GET_KEYRING_ID, linux.KEY_SPEC_SESSION_KEYRING)
    assert int(result.stdout.strip()) != ours


def create_mapped_with_deny_profile(runtime: Cli, tmp_path: Path, base: int) -> str:
    """A busybox container with lxc.idmap and the DENY profile (readable by the
    mapped root); returns its name."""
    profile = tmp_path / "deny.seccomp"
    profile.write_text(DENY)
    profile.chmod(0o644)
    return create(
        runtime,
        tmp_path,
        f"lxc.net.0.type = empty\n{map_lines(base)}lxc.seccomp.profile = {profile}\n",
    )


@needs_busybox
def test_an_unprivileged_container_loads_the_filter(
    runtime: Cli,
    subids: int,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With lxc.idmap the child loads the filter as root of the container's user
    namespace (CAP_SYS_ADMIN there is enough: no no_new_privs needed)."""
    name = create_mapped_with_deny_profile(runtime, tmp_path, subids)
    result = runtime("lxc-start", "-n", name)
    assert result.returncode == 0, result.stderr
    try:
        pid = runtime("lxc-info", "-n", name, "-pH").stdout.strip()
        assert seccomp_of(pid) == "2"
        status = Path(f"/proc/{pid}/status").read_text()
        assert "NoNewPrivs:\t0" in status
        result = runtime("lxc-attach", "-n", name, "--", "mkdir", "/tmp/x")
        assert result.returncode != 0 and "Operation not permitted" in result.stderr, result.stderr
    finally:
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0


HOOK_PROBE = """#!/bin/sh
{
  grep Seccomp: /proc/self/status | tr -d '\\t' | tr ':' '='
  mkdir /tmp/hookdir 2>/dev/null && echo mkdir=0 || echo mkdir=1
  (exec 3</proc/1/mem) 2>/dev/null && echo mem=open || echo mem=denied
  readlink /proc/1/exe >/dev/null 2>&1 && echo exe=read || echo exe=denied
  cat /proc/1/environ >/dev/null 2>&1 && echo environ=read || echo environ=denied
} > /probe.out
"""


def probe_hook(cli: Cli, name: str) -> Path:
    """/probe.sh in the rootfs as the start hook; the file it writes."""
    rootfs = cli.lxcpath / name / "rootfs"
    (rootfs / "probe.sh").write_text(HOOK_PROBE)
    (rootfs / "probe.sh").chmod(0o755)
    with (cli.lxcpath / name / "config").open("a") as handle:
        handle.write("lxc.hook.start = /probe.sh\n")
    return rootfs / "probe.out"


def seen_by(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().split())


@needs_busybox
def test_the_start_hook_runs_under_the_filter(runtime: Cli, container: str, tmp_path: Path) -> None:
    """The start hook is the container's code: it runs under the container's filter."""
    profile = tmp_path / "deny.seccomp"
    profile.write_text(DENY)
    use_profile(runtime, container, profile)
    out = probe_hook(runtime, container)
    result = runtime("lxc-start", "-n", container)
    try:
        assert result.returncode == 0, result.stderr
        seen = seen_by(out)
        assert seen["Seccomp"] == "2" and seen["mkdir"] == "1", seen
    finally:
        assert runtime("lxc-stop", "-n", container, "-k").returncode == 0


@needs_busybox
def test_an_unprivileged_start_hook_cannot_reach_the_waiting_init(
    runtime: Cli,
    subids: int,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With lxc.idmap the start hook has every capability of the container's user
    namespace, the init's credentials: the init is not dumpable while it waits, so
    the hook can neither open its memory nor read its exe or environment."""
    name = create_mapped_with_deny_profile(runtime, tmp_path, subids)
    out = probe_hook(runtime, name)
    result = runtime("lxc-start", "-n", name)
    try:
        assert result.returncode == 0, result.stderr
        seen = seen_by(out)
        assert seen == {
            "Seccomp": "2", "mkdir": "1", "mem": "denied", "exe": "denied", "environ": "denied"
        }, seen  # fmt: skip
        # After the exec the init is the container root's again.
        result = runtime("lxc-attach", "-n", name, "--", "readlink", "/proc/1/exe")
        assert result.returncode == 0, result.stderr
    finally:
        assert runtime("lxc-stop", "-n", name, "-k").returncode == 0
