"""`trio-lxc-oci` start, state, kill, delete, pause, resume, ps, update, events, list.

Each is a request to the root's daemon or a look at the container's cgroups, with
runc's messages for the errors the shim tells apart (does not exist, not
running, not stopped, not paused). Hooks poststart (after `start`) and poststop
(in `delete`) run here with the state JSON on stdin, bounded by their timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping

from cli import oci_common
from cli.oci import Context, OciError
from runtime.client.control_protocol import Cgroup, Freeze, Signal, Stats, Unfreeze
from runtime.oci import state as oci_state

#: How long `delete` waits for a killed container to be STOPPED.
STOP_WAIT = 30.0
#: The largest resources document `update` reads from stdin.
MAX_RESOURCES = 1 << 20


def start(ctx: Context, args: argparse.Namespace) -> int:
    container_id = args.id
    data = oci_common.load(ctx, container_id)
    status, pid = oci_common.status(ctx, container_id)
    if status != "created" or pid is None:
        if status == "stopped":
            raise OciError("cannot start a container that has stopped")
        raise OciError("cannot start an already running container" if status == "running" else f"cannot start a container in the {status} state")
    try:
        fd = oci_state.open_fifo(ctx.root, container_id)  # never through a symlink
    except (FileNotFoundError, oci_state.NotFound):
        raise OciError("cannot start an already running container") from None
    except OSError as err:
        raise OciError(f"cannot start container {container_id}: {err.strerror}") from None
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        os.close(fd)
        raise OciError("cannot start a container that has stopped") from None
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if fd in ready:
                if os.read(fd, 1):
                    break
            if pidfd in ready:
                raise OciError("cannot start a container that has stopped")
            time.sleep(0.005)  # POLLHUP before the byte: the writer is on its way
    finally:
        os.close(fd)
        os.close(pidfd)
    oci_state.remove_fifo(ctx.root, container_id)
    _run_hooks(ctx, container_id, data, "poststart", fail=False)
    return 0


def state(ctx: Context, args: argparse.Namespace) -> int:
    data = oci_common.load(ctx, args.id)
    print(json.dumps(oci_common.document(ctx, args.id, data), indent=2))
    return 0


def list_containers(ctx: Context, args: argparse.Namespace) -> int:
    rows = []
    if os.path.isdir(ctx.root):
        for name in sorted(os.listdir(ctx.root)):
            try:
                data = oci_state.read(ctx.root, name)
            except (oci_state.NotFound, oci_state.Damaged, ValueError, OSError):
                continue
            doc = oci_common.document(ctx, name, data)
            rows.append((name, str(doc["pid"]), str(doc["status"]), str(doc["bundle"]), str(doc["created"])))
    print(f"{'ID':<20}{'PID':<10}{'STATUS':<10}{'BUNDLE':<40}CREATED")
    for row in rows:
        print(f"{row[0]:<20}{row[1]:<10}{row[2]:<10}{row[3]:<40}{row[4]}")
    return 0


def kill(ctx: Context, args: argparse.Namespace) -> int:
    container_id = args.id
    oci_common.load(ctx, container_id)
    sig = oci_common.parse_signal(args.signal)
    status, pid = oci_common.status(ctx, container_id)
    if status == "stopped" or pid is None:
        raise OciError("container not running")
    if args.all:
        for target in oci_common.pids(ctx, container_id):
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass
        return 0
    oci_common.request(ctx, Signal(name=container_id, signal=sig))
    return 0


def delete(ctx: Context, args: argparse.Namespace) -> int:
    container_id = oci_common.checked_id(args.id)
    directory = oci_state.directory(ctx.root, container_id)
    try:
        data = oci_state.read(ctx.root, container_id)
    except oci_state.NotFound:
        if oci_state.is_own_directory(ctx.root, container_id) and not os.path.lexists(
            os.path.join(directory, oci_state.CONFIG)
        ):  # an aborted create's leftovers (with a config and no oci.json: maybe
            # an lxc-create'd container of this lxcpath, not ours to remove)
            _delete_half_made(ctx, container_id, args.force)
        if args.force:
            return 0
        raise OciError(f'container "{container_id}" does not exist') from None
    except oci_state.Damaged as err:
        if not args.force:
            raise OciError(str(err)) from None
        _delete_half_made(ctx, container_id, True)
        return 0
    status, _pid = oci_common.status(ctx, container_id)
    if status not in ("stopped", "created") and not args.force:
        raise OciError(f"cannot delete container {container_id} that is not stopped: {status}")
    if status != "stopped":
        _kill_and_wait(ctx, container_id)
    _run_hooks(ctx, container_id, data, "poststop", fail=False)
    shutil.rmtree(directory)
    return 0


def _delete_half_made(ctx: Context, container_id: str, force: bool) -> None:
    """An OCI container's directory without a readable oci.json: with --force, its
    container (the daemon may run one) is killed, then the directory goes;
    without, only a directory whose container is not running."""
    state_name, _ = oci_common.daemon_state(ctx, container_id)
    if state_name != "STOPPED":
        if not force:
            return
        _kill_and_wait(ctx, container_id)
    shutil.rmtree(oci_state.directory(ctx.root, container_id), ignore_errors=True)


def _kill_and_wait(ctx: Context, container_id: str) -> None:
    """SIGKILL everything (thawed, so the kill lands), then wait for STOPPED."""
    for target in oci_common.pids(ctx, container_id):
        try:
            os.kill(target, 9)
        except ProcessLookupError:
            pass
    try:
        oci_common.request(ctx, Signal(name=container_id, signal=9))
    except OciError:
        pass
    try:
        oci_common.request(ctx, Unfreeze(name=container_id))
    except OciError:
        pass
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline:
        state_name, _ = oci_common.daemon_state(ctx, container_id)
        if state_name == "STOPPED":
            return
        time.sleep(0.05)
    raise OciError(f"container {container_id} did not stop within {STOP_WAIT:.0f} s")


def pause(ctx: Context, args: argparse.Namespace) -> int:
    oci_common.load(ctx, args.id)
    status, _ = oci_common.status(ctx, args.id)
    if status not in ("running", "created"):
        raise OciError("container not running")
    oci_common.request(ctx, Freeze(name=args.id))
    return 0


def resume(ctx: Context, args: argparse.Namespace) -> int:
    oci_common.load(ctx, args.id)
    status, _ = oci_common.status(ctx, args.id)
    if status != "paused":
        raise OciError("container not paused")
    oci_common.request(ctx, Unfreeze(name=args.id))
    return 0


def ps(ctx: Context, args: argparse.Namespace) -> int:
    oci_common.load(ctx, args.id)
    status, _ = oci_common.status(ctx, args.id)
    found = oci_common.pids(ctx, args.id) if status != "stopped" else []
    if args.format == "json":
        print(json.dumps(found))
        return 0
    ps_args = [a for a in args.ps_args if a != "--"] or ["-ef"]
    output = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False).stdout
    lines = output.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise OciError("couldn't find PID field in ps output")
    column = header.index("PID")
    print(lines[0])
    wanted = {str(p) for p in found}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column] in wanted:
            print(line)
    return 0


def update(ctx: Context, args: argparse.Namespace) -> int:
    """linux.resources from FILE (or stdin) written to the running container's cgroups."""
    from runtime.oci.cgroup_keys import Resources
    from runtime.oci.errors import SpecError
    from runtime.oci.node import Node

    oci_common.load(ctx, args.id)
    status, _ = oci_common.status(ctx, args.id)
    if status == "stopped":
        raise OciError("container not running")
    from runtime.oci.bundle_files import load_json, loads

    try:
        if args.resources in (None, "-"):
            value = loads(sys.stdin.buffer.read(MAX_RESOURCES + 1), "resources", MAX_RESOURCES)
        else:
            value = load_json(args.resources, "resources", beneath=False)
        lines = Resources().translate(Node(value, "resources"))
    except SpecError as err:
        raise OciError(str(err)) from None
    except OSError as err:
        raise OciError(f"unable to read resources: {err}") from None
    for line in lines:
        key, _, value = line.partition(" = ")
        name = key.split(".", 2)[2]
        if name.startswith("devices."):
            raise OciError("resources.devices: device rules cannot be changed by update")
        oci_common.request(ctx, Cgroup(name=args.id, key=name, value=value))
    return 0


def events(ctx: Context, args: argparse.Namespace) -> int:
    """--stats: one stats record; else one every --interval until the container stops."""
    oci_common.load(ctx, args.id)
    if not 0 < args.interval < 86400 * 365:
        raise OciError(f"--interval: {args.interval} is not a positive number of seconds")
    while True:
        status, _ = oci_common.status(ctx, args.id)
        if status == "stopped":
            if args.stats:
                raise OciError("container not running")
            return 0
        reply = oci_common.request(ctx, Stats(name=args.id))
        data = _stats(reply.stats)
        print(json.dumps({"type": "stats", "id": args.id, "data": data}), flush=True)
        if args.stats:
            return 0
        time.sleep(args.interval)


def _stats(figures: Mapping[str, object]) -> dict[str, object]:
    """The daemon's figures in the shape of runc's events data (what we have of it)."""
    def number(key: str) -> object:
        value = figures.get(key)
        return value if isinstance(value, int) else 0

    return {
        "cpu": {"usage": {"total": number("cpu_ns"), "user": number("cpu_user_ns"), "kernel": number("cpu_system_ns")}},
        "memory": {"usage": {"usage": number("memory_bytes")}, "swap": {"usage": number("swap_bytes")}},
        "blkio": {"ioServiceBytesRecursive": [
            {"op": "Read", "value": number("blkio_read_bytes")},
            {"op": "Write", "value": number("blkio_write_bytes")},
        ]},
        "pids": {"current": number("pids")},
    }  # fmt: skip


def run_hooks(ctx: Context, args: argparse.Namespace) -> int:
    """prestart and createRuntime, as the container's lxc.hook.start-host (on the host,
    with LXC_PID the init's pid): the state says "creating"; a failure fails create."""
    data = oci_common.load(ctx, args.id)
    pid = os.environ.get("LXC_PID", "")
    document = oci_state.document(data, args.id, "creating", int(pid) if pid.isdigit() else None)
    for kind in args.kinds.split(","):
        if kind not in ("prestart", "createRuntime"):
            raise OciError(f"run-hooks: '{kind}' is not prestart or createRuntime")
        _run_hooks(ctx, args.id, data, kind, fail=True, document=document)
    return 0


def _run_hooks(
    ctx: Context, container_id: str, data: dict[str, object], kind: str, *, fail: bool,
    document: dict[str, object] | None = None,
) -> None:  # fmt: skip
    """The hooks of `kind` with the state on stdin; a failure is logged (poststart,
    poststop: the spec says to warn and go on) or raised."""
    from runtime.oci.spec import Hook

    hooks = data.get("hooks")
    listed = hooks.get(kind) if isinstance(hooks, dict) else None
    if not listed:
        return
    text = json.dumps(document or oci_common.document(ctx, container_id, data))
    for item in listed:
        hook = Hook.from_json(item)
        env = dict(item.partition("=")[::2] for item in hook.env)
        try:
            result = subprocess.run(
                hook.args or [hook.path], executable=hook.path, input=text, text=True,
                env=env, capture_output=True, timeout=hook.timeout, check=False,
            )  # fmt: skip
            problem = f"exited with status {result.returncode}" if result.returncode else None
        except subprocess.TimeoutExpired:
            problem = f"timed out after {hook.timeout} s"
        except OSError as err:
            problem = f"could not run: {err.strerror}"
        if problem:
            message = f"{kind} hook {hook.path} {problem}"
            if fail:
                raise OciError(message)
            ctx.log_line("warning", message)
            print(message, file=sys.stderr)
