"""The control protocol's messages and table (runtime/client/control_protocol.py), without IO.

Pure: every op's request and reply survive the wire both ways, every field check
refuses what it must with one line naming the field, the envelope's id is echoed,
fd counts are enforced, and the daemon has a handler for every op in the table.
The daemon's own behaviour on hostile input is in test_daemon_input.py.
"""

from __future__ import annotations

import json

import pytest

from runtime.client import control_protocol as cp


def wire(line: bytes) -> dict[str, object]:
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert isinstance(data, dict)
    return data


SAMPLES: dict[str, tuple[cp.Request[cp.Reply], cp.Reply]] = {
    "ping": (cp.Ping(), cp.Pong(pid=42)),
    "shutdown": (cp.Shutdown(), cp.Done()),
    "metrics": (
        cp.Metrics(),
        cp.MetricsReply(
            pid=7, epoch="e", events_published=3,
            containers=(cp.SupervisedFigures(name="c", state="RUNNING", pid=9, restarts=1),),
        ),
    ),  # fmt: skip
    "state": (cp.State(name="c"), cp.StateReply(state="RUNNING", pid=5)),
    "start": (
        cp.Start(name="c", argv=("/bin/sh", "-c", "x"), config_path="/x/config", defines=("a=b",),
                 attach=True, console="foreground", winsize=(24, 80), trace=True),
        cp.StartReply(status=130, exit_code=None, signal=2),
    ),  # fmt: skip
    "stop": (cp.Stop(name="c", timeout=-1, kill=True, halt_signal=30), cp.Done()),
    "signal": (cp.Signal(name="c", signal=10), cp.Done()),
    "console": (cp.Console(name="c", tty=0), cp.ConsoleReply(tty=0)),
    "console-resize": (cp.ConsoleResize(name="c", rows=24, cols=80), cp.Done()),
    "console-log": (cp.ConsoleLog(name="c", clear=True), cp.ConsoleLogReply(data="\xff text")),
    "freeze": (cp.Freeze(name="c"), cp.Changed(changed=True)),
    "unfreeze": (cp.Unfreeze(name="c"), cp.Changed(changed=False)),
    "cgroup": (cp.Cgroup(name="c", key="memory.max", value="1G"), cp.CgroupReply()),
    "stats": (cp.Stats(name="c"), cp.StatsReply(state="RUNNING", pid=3, stats={"cpu_ns": 1, "swap_bytes": None})),
    "device": (cp.Device(name="c", action="add", device="/dev/null", target="null2"), cp.Done()),
    "checkpoint": (cp.Checkpoint(name="c", dir="/tmp/ck", stop=True, predump_dir="p"), cp.Done()),
    "restore": (cp.Restore(name="c", dir="/tmp/ck"), cp.Restored(pid=11)),
    "start-many": (
        cp.StartMany(batches=(cp.Batch(names=("a", "b"), delay=3), cp.Batch(names=("c",)))),
        cp.ManyReply(attempted=3, failed=1),
    ),
    "stop-many": (
        cp.StopMany(action="shutdown", timeout=5, batches=(cp.Batch(names=("a",)),)),
        cp.ManyReply(attempted=1, failed=0),
    ),
}


def test_every_op_has_a_sample() -> None:
    assert set(SAMPLES) == set(cp.OPS)


@pytest.mark.parametrize("op", sorted(cp.OPS))
def test_request_and_reply_round_trip(op: str) -> None:
    request, reply = SAMPLES[op]
    row = cp.OPS[op]
    assert cp.op_of(request) is row and isinstance(request, row.request) and isinstance(reply, row.reply)
    data = wire(cp.encode_request(request, 17))
    assert (data["v"], data["op"], data["id"]) == (1, op, 17)
    incoming = cp.decode_request(data, max(row.fds))
    assert incoming.request == request and incoming.id == 17 and incoming.op is row
    answer = wire(cp.encode_reply(reply, 17))
    assert answer["ok"] is True and answer["id"] == 17
    decoded = cp.decode_reply(row, answer)
    assert decoded == reply
    assert cp.result(request, decoded) is decoded


def test_replies_keep_their_historic_lines() -> None:
    """What older commands (and test_daemon_input) read stays as it was."""
    assert wire(cp.encode_reply(cp.Pong(pid=4))) == {"v": 1, "ok": True, "pid": 4}
    assert wire(cp.encode_reply(cp.StartReply(pid=4))) == {"v": 1, "ok": True, "pid": 4}
    assert wire(cp.encode_reply(cp.CgroupReply())) == {"v": 1, "ok": True}
    assert wire(cp.encode_reply(cp.Started(pid=4, console=True))) == {
        "v": 1, "event": "started", "pid": 4, "console": True,
    }  # fmt: skip
    assert wire(cp.encode_reply(cp.ErrorReply(error="x is not running", exit_code=2))) == {
        "v": 1, "ok": False, "error": "x is not running", "exit_code": 2,
    }  # fmt: skip


def test_an_error_reply_is_raised_with_its_exit_code_and_kind() -> None:
    request = cp.Freeze(name="c")
    reply = cp.decode_reply(cp.OPS["freeze"], {"ok": False, "error": "nope", "exit_code": 3, "kind": "failed"})
    assert isinstance(reply, cp.ErrorReply)
    with pytest.raises(cp.RequestFailed) as failed:
        cp.result(request, reply)
    assert (str(failed.value), failed.value.exit_code, failed.value.kind) == ("nope", 3, "failed")


def test_events_decode_by_op_and_unknown_lines_are_refused() -> None:
    start = cp.OPS["start"]
    assert cp.decode_reply(start, {"event": "started", "pid": 3}) == cp.Started(pid=3)
    traced = {"event": "started", "pid": 3, "trace": [{"by": "child", "step": "fork", "ns": 12}]}
    assert cp.decode_reply(start, traced) == cp.Started(
        pid=3, trace=(cp.TraceMark(by="child", step="fork", ns=12),)
    )
    with pytest.raises(cp.ReplyError):
        cp.decode_reply(start, {"event": "closed"})  # a console's event, not a start's
    # the end of a traced run (lxc-execute, lxc-stop -l TRACE), before the final reply
    end = {"event": "trace", "trace": [{"by": "daemon", "step": "STOPPED published", "ns": 40}]}
    for op in ("start", "stop"):
        assert cp.decode_reply(cp.OPS[op], end) == cp.Traced(
            trace=(cp.TraceMark(by="daemon", step="STOPPED published", ns=40),)
        )
    assert cp.decode_request({"op": "stop", "name": "c", "trace": True}).request == cp.Stop(
        name="c", trace=True
    )
    with pytest.raises(cp.ReplyError):
        cp.decode_reply(start, {"something": 1})


def test_a_start_s_warnings_come_as_an_event() -> None:
    """The daemon reads a start's config alone: what it warns about goes to the command."""
    start = cp.OPS["start"]
    line = {"event": "warnings", "warnings": ["lxc.apparmor.profile: not enabled"]}
    warned = cp.decode_reply(start, line)
    assert warned == cp.Warned(warnings=("lxc.apparmor.profile: not enabled",))
    assert wire(cp.encode_reply(warned)) == {"v": 1, **line}
    with pytest.raises(cp.ReplyError):
        cp.decode_reply(cp.OPS["stop"], line)  # a start's event only
    with pytest.raises(cp.ReplyError):
        cp.decode_reply(start, {"event": "warnings", "warnings": "not a list"})
    with pytest.raises(cp.ReplyError):
        cp.decode_reply(cp.OPS["state"], {"ok": True, "state": 5})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"op": "state"}, "name"),
        ({"op": "state", "name": None}, "name"),
        ({"op": "state", "name": ["c"]}, "name"),
        ({"op": "state", "name": "a/b"}, "name"),
        ({"op": "start", "name": "c", "argv": ["x"] * (cp.LIST_MAX + 1)}, "argv"),
        ({"op": "start", "name": "c", "argv": ["x" * (cp.ARG_MAX + 1)]}, "argv"),
        ({"op": "start", "name": "c", "console": "background"}, "console"),
        ({"op": "start", "name": "c", "winsize": "24x80"}, "winsize"),
        ({"op": "start", "name": "c", "attach": 1}, "attach"),
        ({"op": "stop", "name": "c", "timeout": float("inf")}, "timeout"),
        ({"op": "stop", "name": "c", "halt_signal": 99}, "halt_signal"),
        ({"op": "console", "name": "c", "tty": 1025}, "tty"),
        ({"op": "console-resize", "rows": 1}, "cols"),
        ({"op": "cgroup", "name": "c", "key": ""}, "key"),
        ({"op": "cgroup", "name": "c", "key": "a\nb"}, "key"),
        ({"op": "cgroup", "name": "c", "key": "k" * 300}, "key"),
        ({"op": "device", "name": "c", "action": "move", "device": "x"}, "action"),
        ({"op": "device", "name": "c", "action": "add", "device": ""}, "device"),
        ({"op": "checkpoint", "name": "c", "dir": "relative"}, "dir"),
        ({"op": "restore", "name": "c", "dir": "/d", "action_script": "s.sh"}, "action_script"),
        ({"op": "ping", "id": -1}, "id"),
        ({"op": "ping", "id": "seven"}, "id"),
    ],
)
def test_bad_fields_are_refused_naming_them(data: dict[str, object], field: str) -> None:
    with pytest.raises(cp.RequestError) as refused:
        cp.decode_request(data)
    text = str(refused.value)
    assert f"'{field}'" in text and "\n" not in text and refused.value.exit_code == 1


def test_the_id_is_kept_for_the_error_reply() -> None:
    with pytest.raises(cp.RequestError) as refused:
        cp.decode_request({"op": "state", "id": 9})
    assert refused.value.request_id == 9
    line = wire(cp.encode_reply(refused.value.reply(), refused.value.request_id))
    assert line["id"] == 9 and line["ok"] is False


@pytest.mark.parametrize(("op", "fds", "ok"), [("ping", 0, True), ("ping", 3, False), ("start", 3, True),
                                                ("start", 1, False), ("start", 0, True), ("console", 1, False)])  # fmt: skip
def test_fd_counts_follow_the_table(op: str, fds: int, ok: bool) -> None:
    data = {"op": op, "name": "c"}
    if ok:
        assert cp.decode_request(data, fds).op.name == op
    else:
        with pytest.raises(cp.RequestError, match="file descriptors"):
            cp.decode_request(data, fds)


def test_unknown_ops_versions_and_extra_fields() -> None:
    with pytest.raises(cp.RequestError, match="unknown request 'nope'"):
        cp.decode_request({"op": "nope"})
    with pytest.raises(cp.RequestError, match="unknown request"):
        cp.decode_request({"op": "\x1b[2J" * 30})
    with pytest.raises(cp.RequestError, match="version"):
        cp.decode_request({"v": 2, "op": "ping"})
    assert cp.decode_request({"op": "state", "name": "c", "newer": [1, 2]}).request == cp.State(name="c")


def test_messages_are_checked_when_built_and_frozen() -> None:
    with pytest.raises(cp.RequestError, match="'argv' must not contain NUL"):
        cp.Start(name="c", argv=("a\0b",))
    stop = cp.Stop(name="c")
    with pytest.raises(AttributeError):
        stop.__setattr__("name", "d")
    assert (stop.timeout, stop.kill, stop.halt_signal) == (60.0, False, None)
    assert cp.Signal().signal == 15 and cp.Console(name="c").tty == -1


def test_the_checks_for_a_future_op_on_several_containers() -> None:
    check = cp.container_names(2)
    assert check(["a", "b"], "names") == ("a", "b")
    for bad in (["a", "../b"], ["a", "b", "c"], "a", [1]):
        with pytest.raises(cp.RequestError, match="'names'"):
            check(bad, "names")


def test_the_daemon_handles_every_op_of_the_table() -> None:
    from runtime.daemon.app import ControlConnection

    for name in cp.OPS:
        assert callable(getattr(ControlConnection, f"op_{name.replace('-', '_')}", None)), name
    envelope = {"v", "op", "id", "ok", "event"}
    for row in cp.OPS.values():
        for kind in (row.request, row.reply, *row.events):
            assert not envelope & {spec.name for spec in kind.FIELDS}, kind


def test_no_control_request_is_a_dict_literal() -> None:
    """Requests are built from the protocol's classes only (the spawner link, a
    different protocol, has its own `op`s)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    literal = re.compile(r"""["']op["']\s*:""")
    allowed = {
        "runtime/client/control_protocol.py",  # the envelope itself
        "runtime/client/control.py",  # its docstring
        "runtime/api.py",  # converted to the protocol's classes with the API rewrite
        "runtime/daemon/spawner_link.py",
        "runtime/spawn/spawner.py",
        "runtime/spawn/messages.py",
        "cli/oci_ops.py",  # runc's blkio stats entries ({"op": "Read", ...}), not requests
    }
    found = [
        str(path.relative_to(root))
        for folder in ("cli", "runtime", "bus", "bench")
        for path in sorted((root / folder).rglob("*.py"))
        if str(path.relative_to(root)) not in allowed and literal.search(path.read_text())
    ]
    assert found == []


def test_any_json_object_decodes_or_is_refused_with_a_request_error() -> None:
    """Random values in every field of every op: decoding returns a request or raises
    RequestError, never anything else (the daemon answers that as one line)."""
    import random

    chooser = random.Random(14)
    samples: list[object] = [
        None, True, False, 0, -1, 1, 2**31, 2**64, -(2**63), 1.5, float("nan"), float("inf"), -0.0,
        "", "c", "../x", "a\0b", "x" * 5000, "\u3000", [], [1], ["a"], ["a"] * 5, [[["deep"]]],
        {}, {"a": 1}, {"a": None}, [24, 80], [70000, 1],
    ]  # fmt: skip
    for _ in range(3000):
        row = chooser.choice(list(cp.OPS.values()))
        names = [spec.name for spec in row.request.FIELDS] + ["id", "v", "extra"]
        data: dict[str, object] = {"op": row.name}
        for name in chooser.sample(names, chooser.randint(0, len(names))):
            data[name] = chooser.choice(samples)
        try:
            incoming = cp.decode_request(data, chooser.choice((0, 0, 1, 3)))
        except cp.RequestError as err:
            assert "\n" not in str(err) and len(str(err)) < 400, err
        else:
            assert isinstance(incoming.request, row.request)
            cp.encode_request(incoming.request)  # and what decoded encodes again
