"""Keys the container child applies, on real container children (no daemon).

lxc.arch (the personality `uname -m` shows), lxc.keyring.session (a session
keyring of the container's own), lxc.sched.core (a core-scheduling cookie, or a
refusal naming the key where the kernel has none), the network namespace of a
config without `lxc.net.*` (its own, with only lo) and of `type = none` (the
host's), and rootfs whose /proc, /sys or /dev is a symlink (refused, naming the
path). The harness is test_spawn_child's: a real spawner, A and init, the test
playing the daemon; it checks that the host's mount table is unchanged.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import pytest
from test_spawn_child import busybox_rootfs, run, sh, shared_busybox  # noqa: F401 - fixtures

from runtime.kernel import linux
from runtime.spawn import schedcore

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"), reason="needs root and busybox-static"
)

#: A config for a container on the host's root (so the host's Python runs inside).
HOST_ROOT = "lxc.uts.name = keys\n"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.mark.parametrize(
    ("arch", "shown"),
    [("i686", "i686"), ("x86", "i686"), ("linux32", "i686"), ("x86_64", "x86_64"), (None, "x86_64")],
)
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="an x86_64 host")
def test_arch_sets_the_personality_uname_shows(run, shared_busybox, arch, shown):  # noqa: F811
    _, config = shared_busybox
    if arch is not None:
        config += f"lxc.arch = {arch}\n"
    result = run(config, ["uname", "-m"])
    assert result.error is None, result.error
    assert result.stdout.strip() == shown


def test_arch_of_another_family_is_refused_naming_the_key(run, shared_busybox):  # noqa: F811
    _, config = shared_busybox
    result = run(config + "lxc.arch = s390x\n", ["true"])
    assert result.error is not None and result.error.startswith("lxc.arch: ")
    assert "cannot run natively" in result.error


def _session_keyring() -> int:
    return linux.keyctl(linux.KEYCTL_GET_KEYRING_ID, linux.KEY_SPEC_SESSION_KEYRING)


_SHOW_KEYRING = (
    "from runtime.kernel import linux; "
    "print(linux.keyctl(linux.KEYCTL_GET_KEYRING_ID, linux.KEY_SPEC_SESSION_KEYRING))"
)


@pytest.mark.parametrize(("setting", "fresh"), [("", True), ("lxc.keyring.session = 1\n", True),
                                                 ("lxc.keyring.session = 0\n", False)])  # fmt: skip
def test_session_keyring_is_the_containers_own(run, setting, fresh):  # noqa: F811
    """LXC gives each container a new session keyring unless lxc.keyring.session = 0."""
    env = f"lxc.environment = PYTHONPATH={Path(__file__).parent.parent}\n"
    result = run(HOST_ROOT + env + setting, python(_SHOW_KEYRING))
    assert result.error is None, result.error
    inside = int(result.stdout.strip())
    assert (inside != _session_keyring()) is fresh


_SHOW_COOKIE = (
    "import ctypes; from runtime.kernel import linux; c = ctypes.c_uint64(0); "
    "linux.prctl(linux.PR_SCHED_CORE, linux.PR_SCHED_CORE_GET, 0, "
    "linux.PR_SCHED_CORE_SCOPE_THREAD_GROUP, ctypes.addressof(c)); print(c.value)"
)


def test_sched_core_gives_a_cookie_or_refuses_naming_the_key(run):  # noqa: F811
    env = f"lxc.environment = PYTHONPATH={Path(__file__).parent.parent}\n"
    result = run(HOST_ROOT + env + "lxc.sched.core = 1\n", python(_SHOW_COOKIE))
    if schedcore.supported():
        assert result.error is None, result.error
        cookie = ctypes.c_uint64(0)
        linux.prctl(linux.PR_SCHED_CORE, linux.PR_SCHED_CORE_GET, 0, 1, ctypes.addressof(cookie))
        assert int(result.stdout.strip()) not in (0, cookie.value)
    else:
        assert result.error is not None and result.error.startswith("lxc.sched.core: ")
        assert "no core scheduling" in result.error


def test_sched_core_0_asks_for_nothing(run):  # noqa: F811
    result = run(HOST_ROOT + "lxc.sched.core = 0\n", ["true"])
    assert result.error is None and result.exit_code == 0


@pytest.mark.parametrize("mode", ["application", "system"])
def test_no_network_keys_is_a_namespace_with_only_lo(run, shared_busybox, mode):  # noqa: F811
    """As LXC: no lxc.net.* at all is not the host's network but one of its own."""
    _, config = shared_busybox
    script = "readlink /proc/self/ns/net; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '"
    result = run(config, sh(script), mode=mode)
    assert result.error is None, result.error
    namespace, *interfaces = result.stdout.split()
    assert namespace != os.readlink("/proc/self/ns/net")
    assert interfaces == ["lo"]


def test_type_none_shares_the_hosts_network(run, shared_busybox):  # noqa: F811
    _, config = shared_busybox
    result = run(config + "lxc.net.0.type = none\n", sh("readlink /proc/self/ns/net"))
    assert result.error is None, result.error
    assert result.stdout.strip() == os.readlink("/proc/self/ns/net")


@pytest.mark.parametrize(
    ("entry", "setting", "key"),
    [
        ("proc", "lxc.mount.auto = proc:mixed\n", "lxc.mount.auto"),
        ("sys", "lxc.mount.auto = sys:ro\n", "lxc.mount.auto"),
        ("dev", "lxc.autodev = 1\n", "lxc.autodev"),
    ],
)
def test_symlinked_mount_targets_are_refused(run, tmp_path, entry, setting, key):  # noqa: F811
    """LXC's lxc-test-symlink (case 4): a rootfs whose /proc (or /sys, /dev) is a
    symlink does not start; nothing is mounted where the link points."""
    rootfs, config = busybox_rootfs(tmp_path / "bb")
    target = tmp_path / "elsewhere"
    target.mkdir()
    victim = rootfs / entry
    if victim.is_dir() and not victim.is_symlink():
        for child in victim.iterdir():
            if child.is_dir() and not child.is_symlink():
                os.system(f"rm -rf '{child}'")
            else:
                child.unlink()
        victim.rmdir()
    victim.symlink_to(target)
    lines = [line for line in config.splitlines() if not line.startswith(("lxc.mount.auto", "lxc.autodev"))]
    result = run("\n".join(lines) + "\n" + setting, ["true"], mode="system")
    assert result.error == f"{key}: /{entry} in the rootfs is a symlink: refusing to mount on it"
    assert list(target.iterdir()) == []
