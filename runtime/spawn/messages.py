"""The daemon <-> spawner link protocol, sans IO: typed messages, encode and decode.

Why a module of its own (after bus/protocol.py): the daemon's side
(runtime.daemon.spawner_link, trio) and the spawner (runtime.spawn.spawner, no
trio) speak it; declaring every message once, side by side, keeps the two halves
from drifting and lets tests drive the protocol without processes.

Wire: SOCK_SEQPACKET on `<rundir>/spawner.sock`, one JSON object per packet with
`"op"`. Messages:

daemon -> spawner
  spawn         {id, request: {spec, console, ttys, hook_env, hook_timeout, trace?,
                cgroup_join?, cgroup_into?}} with
                SCM_RIGHTS fds [sync, stdin, stdout, stderr] (SPAWN_FDS)
spawner -> daemon
  hello         {children: [PID...], exits: [{pid, status}...]}  on connect: its
                children and the exits it queued while no daemon was connected
  spawned       {id, pid}      the forked child A
  spawn-failed  {id, error}    no child; the reason goes to the user
  exit          {pid, status}  a child was reaped (wait status)

`spec` is `runtime.spawn.start_spec.to_wire`: the start the daemon resolved, config
included, so the spawner never reads the config file. A packet that does not
decode raises `LinkProtocolError`; an unknown op decodes to None (ignored).
"""

from __future__ import annotations

import json

import attrs

from runtime.spawn.start_spec import StartSpec, WireError, from_wire, to_wire

#: The fds that go with a spawn: the sync socket, then the init's stdin, stdout, stderr.
SPAWN_FDS = 4


class LinkProtocolError(ValueError):
    """A packet of the other side that is not a message of this protocol."""


@attrs.frozen
class SpawnRequest:
    """One container to fork: the resolved start, and what the supervisor made for it.

    console, ttys: host paths of the pty slaves the child bind-mounts (runtime.daemon.console).
    hook_env, hook_timeout: what the child needs to run its hooks (runtime.hooks.host).
    """

    spec: StartSpec
    console: str | None = None
    ttys: tuple[str, ...] = ()
    hook_env: dict[str, str] | None = None
    hook_timeout: float | None = None
    #: Record the child's steps (runtime.kernel.start_trace).
    trace: bool = False
    #: The container's v1 cgroup directories its init joins itself, and the cgroup2
    #: directory the spawner clones it into, when the init is the forked process
    #: (runtime.cgroups.container.ContainerCgroups.joinable); the daemon moves it
    #: into whatever the child reports it did not join.
    cgroup_join: tuple[str, ...] = ()
    cgroup_into: str | None = None


@attrs.frozen
class Spawn:
    id: int
    request: SpawnRequest


@attrs.frozen
class ExitReport:
    pid: int
    status: int


@attrs.frozen
class Hello:
    children: tuple[int, ...] = ()
    exits: tuple[ExitReport, ...] = ()


@attrs.frozen
class Spawned:
    id: int
    pid: int


@attrs.frozen
class SpawnFailed:
    id: int
    error: str


@attrs.frozen
class Exited:
    pid: int
    status: int


ToSpawner = Spawn
ToDaemon = Hello | Spawned | SpawnFailed | Exited
Message = ToSpawner | ToDaemon


def encode(message: Message) -> bytes:
    """One packet."""
    data: dict[str, object]
    if isinstance(message, Spawn):
        request = message.request
        data = {
            "op": "spawn",
            "id": message.id,
            "request": {
                "spec": to_wire(request.spec),
                "console": request.console,
                "ttys": list(request.ttys),
                "hook_env": request.hook_env,
                "hook_timeout": request.hook_timeout,
                **({"trace": True} if request.trace else {}),
                **({"cgroup_join": list(request.cgroup_join)} if request.cgroup_join else {}),
                **({"cgroup_into": request.cgroup_into} if request.cgroup_into else {}),
            },
        }
    elif isinstance(message, Hello):
        data = {
            "op": "hello",
            "children": list(message.children),
            "exits": [{"pid": e.pid, "status": e.status} for e in message.exits],
        }
    elif isinstance(message, Spawned):
        data = {"op": "spawned", "id": message.id, "pid": message.pid}
    elif isinstance(message, SpawnFailed):
        data = {"op": "spawn-failed", "id": message.id, "error": message.error}
    else:
        data = {"op": "exit", "pid": message.pid, "status": message.status}
    return json.dumps(data).encode()


def decode(packet: bytes) -> Message | None:
    """The message of one packet; None for an op this side does not know."""
    try:
        data = json.loads(packet)
    except ValueError as err:
        raise LinkProtocolError(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise LinkProtocolError("a message must be a JSON object")
    op = data.get("op")
    if op == "spawn":
        return Spawn(id=_int(data, "id"), request=_spawn_request(data.get("request")))
    if op == "hello":
        exits = data.get("exits") or []
        if not isinstance(exits, list):
            raise LinkProtocolError("'exits' must be a list")
        return Hello(
            children=_ints(data, "children"),
            exits=tuple(ExitReport(_int(e, "pid"), _int(e, "status")) for e in map(_object, exits)),
        )
    if op == "spawned":
        return Spawned(id=_int(data, "id"), pid=_int(data, "pid"))
    if op == "spawn-failed":
        return SpawnFailed(id=_int(data, "id"), error=str(data.get("error")))
    if op == "exit":
        return Exited(pid=_int(data, "pid"), status=_int(data, "status"))
    return None


def _spawn_request(value: object) -> SpawnRequest:
    data = _object(value)
    try:
        spec = from_wire(_object(data.get("spec")))
    except WireError as err:
        raise LinkProtocolError(str(err)) from None
    hook_env = data.get("hook_env")
    if hook_env is not None and not isinstance(hook_env, dict):
        raise LinkProtocolError("'hook_env' must be an object")
    timeout = data.get("hook_timeout")
    ttys = data.get("ttys") or []
    if not isinstance(ttys, list):
        raise LinkProtocolError("'ttys' must be a list")
    console = data.get("console")
    join = data.get("cgroup_join") or []
    into = data.get("cgroup_into")
    if not isinstance(join, list) or not all(_is_directory(d) for d in join):
        raise LinkProtocolError("'cgroup_join' must be a list of absolute paths")
    if into is not None and not _is_directory(into):
        raise LinkProtocolError("'cgroup_into' must be an absolute path")
    return SpawnRequest(
        spec=spec,
        console=str(console) if console else None,
        ttys=tuple(str(t) for t in ttys),
        hook_env=None if hook_env is None else {str(k): str(v) for k, v in hook_env.items()},
        hook_timeout=float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None,
        trace=data.get("trace") is True,
        cgroup_join=tuple(str(d) for d in join),
        cgroup_into=str(into) if into is not None else None,
    )


def _is_directory(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/") and "\0" not in value


def _object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise LinkProtocolError("expected a JSON object")
    return value


def _int(data: dict[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise LinkProtocolError(f"{key!r} must be an integer")
    return value


def _ints(data: dict[str, object], key: str) -> tuple[int, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise LinkProtocolError(f"{key!r} must be a list of integers")
    return tuple(int(v) for v in value)
