"""Confinement keys the runtime does not apply yet are refused at start, never ignored.

A container configured with `lxc.idmap` used to run as host root (and `lxc-ls -f`
called it unprivileged); one with `lxc.seccomp.profile` ran with no filter (seccomp
profiles and hooks now take effect: tests/test_seccomp.py, tests/test_hooks.py). Each such key now fails the start of a real busybox container with one
line naming it, and nothing is left behind. LSM keys follow LXC: ignored with a
warning on a host without that LSM, refused on a host that enforces it.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
from pathlib import Path

import pytest
import trio
from conftest import Cli, create_busybox

from runtime.client.errors import ConfigError, LxcError
from runtime.client.rundir import records_dir
from runtime.config import unsupported
from runtime.config.parser import parse_text

needs_busybox = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
    reason="needs root and busybox-static",
)

#: (define, the key the message must name, what it must say)
REFUSED = [
    ("lxc.seccomp.notify.proxy=unix:/run/proxy.sock", "lxc.seccomp.notify.proxy", "seccomp"),
    ("lxc.seccomp.notify.cookie=c00kie", "lxc.seccomp.notify.cookie", "seccomp"),
]


@pytest.fixture
def busybox(runtime: Cli, tmp_path: Path) -> str:
    """A created busybox container (stopped); returns its name."""
    return create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "u")


def assert_nothing_left(runtime: Cli, name: str) -> None:
    state = runtime("lxc-info", "-n", name, "-sH")
    assert state.stdout.strip() == "STOPPED", state.stdout + state.stderr
    assert glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{name}") == []
    assert glob.glob(f"/sys/fs/cgroup/lxc.payload.{name}") == []
    assert not Path(records_dir(str(runtime.lxcpath)), f"{name}.json").exists()


def assert_refusal(result: subprocess.CompletedProcess[str], key: str, says: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert f"{key}:" in lines[0] and says in lines[0] and "not supported yet" in lines[0], lines


# -- the check itself (no container) -------------------------------------------------
def test_every_refused_key_is_marked_unsupported_in_the_table() -> None:
    for define, key, says in REFUSED:
        raw = parse_text(define.replace("=", " = ", 1) + "\n", "c.conf")
        with pytest.raises(ConfigError) as caught:
            unsupported.check(raw, frozenset())
        assert caught.value.key == key
        assert says in str(caught.value) and "remove the key" in str(caught.value)
        assert str(caught.value).startswith("c.conf:1: ")


def test_defaults_and_unconfined_pass_quietly() -> None:
    raw = parse_text(
        "lxc.seccomp.allow_nesting = 0\nlxc.apparmor.allow_nesting = 0\n"
        "lxc.apparmor.allow_incomplete = 0\nlxc.apparmor.profile = unconfined\n"
        "lxc.hook.version = 1\nlxc.seccomp.profile =\n",
        "c.conf",
    )
    for lsms in (frozenset(), frozenset({"apparmor", "selinux"})):
        assert unsupported.check(raw, lsms) == []


@pytest.mark.parametrize(
    ("line", "lsm"),
    [
        ("lxc.apparmor.profile = generated", "apparmor"),
        ("lxc.apparmor.allow_incomplete = 1", "apparmor"),
        ("lxc.apparmor.allow_nesting = 1", "apparmor"),
        ("lxc.apparmor.raw = mount,", "apparmor"),
        ("lxc.selinux.context = system_u:system_r:lxc_t:s0:c22", "selinux"),
        ("lxc.selinux.context.keyring = system_u:system_r:lxc_t:s0", "selinux"),
    ],
)
def test_lsm_keys_warn_without_the_lsm_and_are_refused_with_it(line: str, lsm: str) -> None:
    key = line.split(" = ")[0]
    raw = parse_text(line + "\n", "c.conf")
    other = {"apparmor": "selinux", "selinux": "apparmor"}[lsm]
    warnings = unsupported.check(raw, frozenset({other}))
    assert len(warnings) == 1 and warnings[0].startswith(f"{key}: ") and "ignored" in warnings[0]
    with pytest.raises(ConfigError) as caught:
        unsupported.check(raw, frozenset({lsm}))
    assert caught.value.key == key and "enforces" in str(caught.value)


def test_debian_common_conf_passes(tmp_path: Path) -> None:
    """Debian's common.conf sets hooks and a seccomp profile: both take effect now
    (tests/test_hooks.py, tests/test_seccomp.py), so an include of it passes."""
    common = Path("/usr/share/lxc/config/common.conf")
    if not common.exists():
        pytest.skip("no /usr/share/lxc/config/common.conf here")
    conf = tmp_path / "c.conf"
    conf.write_text(f"lxc.include = {common}\n")
    from runtime.config.parser import parse_file

    assert unsupported.check(parse_file(str(conf)), frozenset()) == []


# -- real containers ---------------------------------------------------------------
@needs_busybox
@pytest.mark.parametrize(("define", "key", "says"), REFUSED)
def test_lxc_start_refuses(runtime: Cli, busybox: str, define: str, key: str, says: str) -> None:
    result = runtime("lxc-start", "-n", busybox, "-s", define)
    assert_refusal(result, key, says)
    assert_nothing_left(runtime, busybox)


@needs_busybox
def test_lxc_start_refuses_a_key_from_the_config_file(runtime: Cli, busybox: str) -> None:
    config = runtime.lxcpath / busybox / "config"
    with config.open("a") as handle:
        handle.write("lxc.seccomp.notify.proxy = unix:/run/proxy.sock\n")
    result = runtime("lxc-start", "-n", busybox)
    assert_refusal(result, "lxc.seccomp.notify.proxy", "seccomp")
    assert f"{config}:" in result.stderr
    assert_nothing_left(runtime, busybox)


@needs_busybox
@pytest.mark.parametrize(
    ("define", "key", "says"),
    [REFUSED[0], REFUSED[1]],
    ids=["notify-proxy", "notify-cookie"],
)
def test_lxc_execute_refuses(runtime: Cli, busybox: str, define: str, key: str, says: str) -> None:
    result = runtime("lxc-execute", "-n", busybox, "-s", define, "--", "true")
    assert_refusal(result, key, says)
    assert_nothing_left(runtime, busybox)


@needs_busybox
def test_python_api_start_refuses(runtime: Cli, busybox: str) -> None:
    from runtime.api import Runtime

    async def start() -> None:
        await Runtime(str(runtime.lxcpath)).start(
            busybox, defines=["lxc.seccomp.notify.proxy=unix:/run/proxy.sock"]
        )

    with pytest.raises(LxcError) as caught:
        trio.run(start)
    assert "lxc.seccomp.notify.proxy:" in str(caught.value) and "not supported yet" in str(caught.value)
    assert caught.value.exit_code == 1
    assert_nothing_left(runtime, busybox)


@needs_busybox
@pytest.mark.skipif("apparmor" in unsupported.enabled_lsms(), reason="this host enforces AppArmor")
def test_apparmor_key_warns_and_starts_on_a_host_without_apparmor(
    runtime: Cli, busybox: str
) -> None:
    result = runtime("lxc-start", "-n", busybox, "-s", "lxc.apparmor.profile=generated")
    try:
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "lxc.apparmor.profile" in line]
        assert len(warnings) == 1 and "AppArmor is not enabled" in warnings[0], result.stderr
        assert runtime("lxc-info", "-n", busybox, "-sH").stdout.strip() == "RUNNING"
        # Really runs as host root, in our user namespace: lxc-ls says so.
        fancy = runtime("lxc-ls", "-f", "-F", "NAME,UNPRIVILEGED")
        assert fancy.stdout.split()[-2:] == [busybox, "false"], fancy.stdout
    finally:
        runtime("lxc-stop", "-n", busybox, "-k")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and glob.glob(f"/sys/fs/cgroup/*/lxc.payload.{busybox}"):
        time.sleep(0.05)
    assert_nothing_left(runtime, busybox)
