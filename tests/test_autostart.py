"""lxc-autostart: LXC's selection and order, and real containers started, stopped,
killed and rebooted through one daemon request per set (runtime.tools.autostart,
runtime.daemon.many, cli/lxc_autostart.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runtime.tools import autostart
from runtime.tools.autostart import Settings
from tests.conftest import Cli, create_busybox, unique


def settings(name: str, order: int = 0, delay: int = 0, groups: tuple[str, ...] = (), auto: bool = True) -> Settings:
    return Settings(name, auto=auto, delay=delay, order=order, groups=groups)


#: The set of configs LXC 5.0.2's own lxc-autostart was run against (`-L` below).
REFERENCE = [
    settings("alpha", order=2),
    settings("beta", order=1, delay=3),
    settings("gamma", order=1),
    settings("delta", order=-1),
    settings("eps", groups=("onboot",)),
    settings("zeta", groups=("g1", "g2")),
    settings("ab"),
    settings("a", auto=False),
]


def listed(action: str, groups: list[str], all_groups: bool = False, ignore_auto: bool = False) -> list[str]:
    passes = autostart.select(
        REFERENCE, action=action, groups=autostart.group_list(groups),
        all_groups=all_groups, ignore_auto=ignore_auto,
    )  # fmt: skip
    return [autostart.list_line(action, s) for p in passes for s in p]


def test_selection_and_order_are_lxcs() -> None:
    """What LXC 5.0.2's `lxc-autostart -L` printed for the same configs."""
    assert listed("start", []) == ["delta 0", "ab 0", "beta 3", "gamma 0", "alpha 0"]
    assert listed("start", [], all_groups=True) == [
        "delta 0", "ab 0", "eps 0", "zeta 0", "beta 3", "gamma 0", "alpha 0",
    ]  # fmt: skip
    assert listed("start", [], ignore_auto=True) == ["delta 0", "a 0", "ab 0", "beta 3", "gamma 0", "alpha 0"]
    assert listed("start", ["onboot,"]) == ["eps 0", "delta 0", "ab 0", "beta 3", "gamma 0", "alpha 0"]
    assert listed("start", ["g2,onboot"]) == ["zeta 0", "eps 0"]
    assert listed("start", ["g2", "g1"]) == ["zeta 0"]
    assert listed("start", ["g1"], all_groups=True) == listed("start", [], all_groups=True)
    # Shutdown and kill go the other way round, without delays.
    assert listed("shutdown", []) == ["alpha", "gamma", "beta", "ab", "delta"]


def test_group_list_keeps_the_null_group_and_drops_duplicates() -> None:
    assert autostart.group_list([]) == [""]
    assert autostart.group_list(["dns,web,,onboot"]) == ["dns", "web", "", "onboot"]
    assert autostart.group_list(["dns,web", ",onboot", "web"]) == ["dns", "web", "", "onboot"]


def test_batches_share_an_order_and_wait_for_the_longest_delay() -> None:
    one_pass = [settings("a", 1, 2), settings("b", 1, 5), settings("c", 2, 7), settings("d", 3, 1)]
    assert [(b.names, b.delay) for b in autostart.plan([one_pass, [settings("e", 3, 4)]])] == [
        (("a", "b"), 5),
        (("c",), 7),
        (("d",), 1),
        (("e",), 0),  # nothing follows the last batch
    ]
    # LXC waits after a start or a reboot only.
    first = autostart.plan([one_pass], "reboot")[0]
    assert (first.names, first.delay) == (("a", "b"), 5)
    assert {b.delay for b in autostart.plan([one_pass], "shutdown")} == {0}
    assert {b.delay for b in autostart.plan([one_pass], "kill")} == {0}


def test_list_prints_lxcs_lines(cli: Cli, tmp_path: Path) -> None:
    """-L reads the configs only: no daemon, LXC's `NAME DELAY` lines."""
    for name, extra in (("c-late", "lxc.start.order = 5\n"), ("c-early", "lxc.start.order = -2\nlxc.start.delay = 4\n"),
                        ("c-off", "lxc.start.auto = 0\n"), ("c-web", "lxc.group = web db\n")):  # fmt: skip
        conf = tmp_path / f"{name}.conf"
        conf.write_text("lxc.net.0.type = empty\nlxc.start.auto = 1\n" + extra)
        assert cli("lxc-create", "-n", name, "-t", "none", "-f", str(conf)).returncode == 0
    result = cli("lxc-autostart", "-L")
    assert (result.returncode, result.stdout) == (0, "c-early 4\nc-late 0\n"), result.stderr
    assert cli("lxc-autostart", "-L", "-g", "db").stdout == "c-web 0\n"
    assert cli("lxc-autostart", "-L", "-a", "-A").stdout == "c-early 4\nc-off 0\nc-web 0\nc-late 0\n"
    assert cli("lxc-autostart", "-L", "-s").stdout == ""  # nothing runs
    bad = cli("lxc-autostart", "-L", "-t", "abc")
    assert bad.returncode == 1 and "invalid timeout 'abc'" in bad.stderr


# -- real containers ----------------------------------------------------------------------


def states(runtime: Cli, names: list[str]) -> dict[str, str]:
    return {n: runtime("lxc-info", "-n", n, "-sH").stdout.strip() for n in names}


def collect(runtime: Cli, until: set[tuple[str, str]], timeout: float = 60) -> list[tuple[float, str, str]]:
    """(time, name, state) of every state event since the daemon began, until each
    (name, state) of `until` was seen."""
    from bus.client import BusClient
    from bus.protocol import StateEvent
    from runtime.client.daemon_client import bus_socket_path

    seen: list[tuple[float, str, str]] = []
    with BusClient(bus_socket_path(str(runtime.lxcpath))).subscribe(".*", since=0, timeout=timeout) as sub:
        for message in sub:
            if isinstance(message, StateEvent):
                seen.append((message.time, message.name, message.state))
                until.discard((message.name, message.state))
                if not until:
                    return seen
    return seen


def test_start_in_order_batches_concurrent_with_delay_then_kill(runtime: Cli, tmp_path: Path) -> None:
    net = "lxc.net.0.type = empty\nlxc.start.auto = 1\n"
    first = [create_busybox(runtime, tmp_path, net + "lxc.start.order = 1\nlxc.start.delay = 2\n", "as1")
             for _ in range(2)]  # fmt: skip
    last = create_busybox(runtime, tmp_path, net + "lxc.start.order = 2\n", "as2")
    manual = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\n", "asm")
    grouped = create_busybox(runtime, tmp_path, net + "lxc.group = other\n", "asg")
    started = time.monotonic()
    result = runtime("lxc-autostart")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 2  # the delay after the first batch
    assert states(runtime, [*first, last, manual, grouped]) == {
        **{n: "RUNNING" for n in [*first, last]}, manual: "STOPPED", grouped: "STOPPED",
    }  # fmt: skip
    events = collect(runtime, {(n, "RUNNING") for n in [*first, last]})
    when = {(name, state): t for t, name, state in events}
    # One batch: both started before either was running (LXC would start one, then
    # the other); the next batch only after the first one's delay.
    assert max(when[(n, "STARTING")] for n in first) < min(when[(n, "RUNNING")] for n in first)
    assert when[(last, "STARTING")] - max(when[(n, "RUNNING")] for n in first) >= 1.9
    # Everything that should run does: a second start has nothing to do.
    assert runtime("lxc-autostart", "-L").stdout == ""
    assert runtime("lxc-autostart", "-L", "-k").stdout.split() == [last, *sorted(first, reverse=True)]
    result = runtime("lxc-autostart", "-k")
    assert result.returncode == 0, result.stderr
    assert set(states(runtime, [*first, last]).values()) == {"STOPPED"}
    # -a: every group, the NULL one and `other` alike (lxc.start.auto still counts).
    result = runtime("lxc-autostart", "-a")
    assert result.returncode == 0, result.stderr
    assert states(runtime, [*first, last, grouped, manual]) == {
        **{n: "RUNNING" for n in [*first, last, grouped]}, manual: "STOPPED",
    }  # fmt: skip
    assert runtime("lxc-autostart", "-a", "-k").returncode == 0
    assert set(states(runtime, [*first, last, grouped]).values()) == {"STOPPED"}


def test_groups_shutdown_reboot_and_ignore_auto(runtime: Cli, tmp_path: Path) -> None:
    web = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.group = web\n", "asw")
    off = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.group = web\n", "aso")
    logfile = tmp_path / "autostart.log"
    result = runtime("lxc-autostart", "-g", "web", "-o", str(logfile), "-l", "INFO")
    assert result.returncode == 0, result.stderr
    assert states(runtime, [web, off]) == {web: "RUNNING", off: "STOPPED"}
    assert f"INFO autostart - {web}: started" in logfile.read_text()  # -o/-l as every command
    pid = runtime("lxc-info", "-n", web, "-pH").stdout.strip()
    assert runtime("lxc-autostart", "-g", "web", "-L", "-r").stdout == f"{web} 0\n"
    result = runtime("lxc-autostart", "-g", "web", "-r")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # rebooted: running again, with a new init
        new_pid = runtime("lxc-info", "-n", web, "-pH").stdout.strip()
        if new_pid and new_pid != pid and states(runtime, [web])[web] == "RUNNING":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"{web} did not reboot")
    # -A: lxc.start.auto ignored, so the other member of the group starts too.
    result = runtime("lxc-autostart", "-g", "web", "-A")
    assert result.returncode == 0, result.stderr
    assert states(runtime, [web, off]) == {web: "RUNNING", off: "RUNNING"}
    # A clean shutdown (the busybox init halts on its lxc.signal.halt), bounded by -t.
    result = runtime("lxc-autostart", "-g", "web", "-A", "-s", "-t", "30")
    assert result.returncode == 0, result.stderr
    assert states(runtime, [web, off]) == {web: "STOPPED", off: "STOPPED"}
    events = collect(runtime, {(web, "STOPPED"), (off, "STOPPED")})
    exits = [name for _, name, state in events if state == "STOPPING"]
    assert off in exits and web in exits


def test_exit_status_counts_failures(runtime: Cli, tmp_path: Path) -> None:
    """LXC's rule: 1 when every container acted on failed, 2 when some did."""
    broken = unique("asb")
    conf = tmp_path / "broken.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.group = bad\nlxc.init.cmd = /no/such/init\n")
    assert runtime("lxc-create", "-n", broken, "-t", "busybox", "-f", str(conf)).returncode == 0
    result = runtime("lxc-autostart", "-g", "bad")
    assert result.returncode == 1
    assert f"Error starting container: {broken}" in result.stderr
    good = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.group = bad\n", "asok")
    result = runtime("lxc-autostart", "-g", "bad")
    assert result.returncode == 2, result.stderr
    assert states(runtime, [good, broken]) == {good: "RUNNING", broken: "STOPPED"}
    assert runtime("lxc-autostart", "-g", "bad", "-k").returncode == 0


def test_requests_are_checked(runtime: Cli) -> None:
    """A hostile start-many/stop-many is refused with the field named; a good one
    answers one `done` line per container, then the tally."""
    from runtime.client.daemon_client import control_socket_path, open_connection
    from tests.test_daemon_input import connect, line, replies

    open_connection(str(runtime.lxcpath)).close()  # the daemon is up
    cases: list[tuple[dict[str, object], str]] = [
        ({"op": "start-many"}, "'batches' is missing"),
        ({"op": "start-many", "batches": [{"names": []}]}, "non-empty list of names"),
        ({"op": "start-many", "batches": [{"names": ["../x"]}]}, "'names' is refused"),
        ({"op": "start-many", "batches": [{"names": ["a"]}, {"names": ["a"]}]}, "names 'a' twice"),
        ({"op": "start-many", "batches": [{"names": ["a"], "delay": -1}]}, "'delay' must be between"),
        ({"op": "stop-many", "action": "halt", "batches": []}, "'action' must be one of"),
    ]
    for request, reason in cases:
        with connect(control_socket_path(str(runtime.lxcpath))) as sock:
            sock.sendall(line(request))
            reply = replies(sock)[-1]
        assert reply["ok"] is False and reason in str(reply["error"]), (request, reply)
    with connect(control_socket_path(str(runtime.lxcpath))) as sock:
        sock.sendall(line({"op": "start-many", "batches": [{"names": ["nosuch"]}]}))
        done, final = replies(sock)
    assert (done["event"], done["name"], done["result"]) == ("done", "nosuch", "failed")
    assert done["error"] == "nosuch doesn't exist"
    assert (final["ok"], final["attempted"], final["failed"]) == (True, 1, 1)


def test_shutdown_kills_after_the_timeout(runtime: Cli, tmp_path: Path) -> None:
    """-s -t T: the halt signal, then, T seconds on, a kill (an init that ignores it)."""
    deaf = create_busybox(
        runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.signal.halt = SIGCONT\n", "asd"
    )
    assert runtime("lxc-autostart").returncode == 0
    assert states(runtime, [deaf]) == {deaf: "RUNNING"}
    started = time.monotonic()
    result = runtime("lxc-autostart", "-s", "-t", "2")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 2
    assert states(runtime, [deaf]) == {deaf: "STOPPED"}


def test_shutdown_without_a_timeout_only_asks(runtime: Cli, tmp_path: Path) -> None:
    """-s -t 0: the halt signal and nothing more, as LXC's (an init that ignores it runs on)."""
    deaf = create_busybox(
        runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.signal.halt = SIGCONT\n", "asz"
    )
    assert runtime("lxc-autostart").returncode == 0
    assert states(runtime, [deaf]) == {deaf: "RUNNING"}
    pid = runtime("lxc-info", "-n", deaf, "-pH").stdout.strip()
    result = runtime("lxc-autostart", "-s", "-t", "0", "-o", str(tmp_path / "a.log"), "-l", "INFO")
    assert result.returncode == 0, result.stderr
    assert f"{deaf}: halted" in (tmp_path / "a.log").read_text()
    time.sleep(0.5)
    assert states(runtime, [deaf]) == {deaf: "RUNNING"}
    assert runtime("lxc-info", "-n", deaf, "-pH").stdout.strip() == pid  # the same init
    assert runtime("lxc-stop", "-n", deaf, "-k").returncode == 0


def test_batches_not_begun_are_dropped_when_the_command_goes(runtime: Cli, tmp_path: Path) -> None:
    """Killing lxc-autostart during a delay stops the set there, as with LXC's."""
    import signal
    import subprocess

    from tests.conftest import BIN

    first = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.start.delay = 4\n", "asf")
    later = create_busybox(runtime, tmp_path, "lxc.net.0.type = empty\nlxc.start.auto = 1\nlxc.start.order = 1\n", "asl")
    command = subprocess.Popen(
        [str(BIN / "lxc-autostart"), "-P", str(runtime.lxcpath)], env=runtime.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        collect(runtime, {(first, "RUNNING")}, timeout=30)
    finally:
        command.send_signal(signal.SIGKILL)
        command.wait()
    time.sleep(5)  # past the delay: the second batch would have begun
    assert states(runtime, [first, later]) == {first: "RUNNING", later: "STOPPED"}
