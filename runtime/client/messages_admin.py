"""The control protocol's messages of the rarer operations: `device` (lxc-device),
`checkpoint` and `restore` (lxc-checkpoint), `start-many` and `stop-many`
(lxc-autostart: batches, a `ContainerDone` event per container).

Loaded by runtime.client.control_protocol the first time one of these names is
asked of it (see runtime.client.messages_start for why).
"""

from __future__ import annotations

from runtime.client.control import MAX_LINE
from runtime.client.control_protocol import (
    MANY_DELAY_MAX,
    MANY_MAX,
    PATH_MAX,
    Done,
    Event,
    Message,
    Reply,
    Request,
    choice,
    container_name,
    container_names,
    field,
    flag,
    integer,
    nested,
    number,
    optional,
    text,
)


class Restored(Reply):
    """A restore's new init."""

    pid: int = field(integer(1, 1 << 31))


class Device(Request[Done], op="device"):
    """lxc-device: add|del a host interface or device node (runtime/daemon/device.py)."""

    name: str = field(container_name)
    action: str = field(choice("add", "del"))
    device: str = field(text(PATH_MAX, empty=False, line=True))
    target: str | None = field(optional(text(PATH_MAX, empty=False, line=True)), default=None)


class Checkpoint(Request[Done], op="checkpoint"):
    """lxc-checkpoint: dump a container with criu (runtime/daemon/checkpoint_ops.py)."""

    name: str = field(container_name)
    dir: str = field(text(absolute=True))
    stop: bool = field(flag, default=False)
    verbose: bool = field(flag, default=False)
    predump: bool = field(flag, default=False)
    predump_dir: str | None = field(optional(text()), default=None)
    action_script: str | None = field(optional(text(absolute=True)), default=None)


class Restore(Request[Restored], op="restore"):
    """lxc-checkpoint -r: restore a dump under a new supervisor."""

    name: str = field(container_name)
    dir: str = field(text(absolute=True))
    verbose: bool = field(flag, default=False)
    action_script: str | None = field(optional(text(absolute=True)), default=None)


class Batch(Message):
    """lxc-autostart: containers of one order value, acted on together, then `delay`
    seconds before the next batch (runtime.daemon.many)."""

    names: tuple[str, ...] = field(container_names(MANY_MAX))
    delay: int = field(integer(0, MANY_DELAY_MAX), default=0)


class ManyReply(Reply):
    """How many containers a start-many/stop-many acted on, and how many failed."""

    attempted: int = field(integer(0, MANY_MAX))
    failed: int = field(integer(0, MANY_MAX))


class ContainerDone(Event, type="done"):
    """One container of a start-many/stop-many is done: started, stopped, halted (sent
    its halt signal, not waited for: `-s -t 0`), rebooted, skipped or failed (with why)."""

    name: str = field(container_name)
    result: str = field(choice("started", "stopped", "halted", "rebooted", "skipped", "failed"))
    error: str | None = field(optional(text(MAX_LINE)), default=None)


class StartMany(Request[ManyReply], op="start-many"):
    """lxc-autostart: start the batches in order, each batch's containers together."""

    batches: tuple[Batch, ...] = field(nested(Batch, MANY_MAX))


class StopMany(Request[ManyReply], op="stop-many"):
    """lxc-autostart -s/-k/-r: `action` on the batches in order (a shutdown waits
    `timeout` seconds, negative: for ever, before the kill; 0: it only sends the halt
    signal, each container `halted`, as LXC's `-s -t 0`)."""

    action: str = field(choice("shutdown", "kill", "reboot"))
    timeout: float = field(number, default=60.0)
    batches: tuple[Batch, ...] = field(nested(Batch, MANY_MAX))
