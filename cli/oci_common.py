"""What several `trio-lxc-oci` subcommands share: the daemon's view of a container,
its processes, signals, and the OCI state document."""

from __future__ import annotations

import os
import signal

from cli.oci import Context, OciError
from runtime.oci import state as oci_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.client.control_protocol import R, Request


def checked_id(container_id: str) -> str:
    try:
        return oci_state.check_id(container_id)
    except ValueError as err:
        raise OciError(str(err)) from None


def load(ctx: Context, container_id: str) -> dict[str, object]:
    """oci.json of the container; runc's "does not exist" error otherwise."""
    checked_id(container_id)
    try:
        return oci_state.read(ctx.root, container_id)
    except oci_state.NotFound:
        raise OciError(f'container "{container_id}" does not exist') from None
    except oci_state.Damaged as err:
        raise OciError(str(err)) from None


def daemon_state(ctx: Context, container_id: str) -> tuple[str, int | None]:
    """(daemon state, init pid); STOPPED when no daemon runs."""
    from runtime.client.control_protocol import State
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError

    try:
        connection = open_connection(ctx.root, autostart=False)
    except (LxcError, OSError):
        return "STOPPED", None
    try:
        reply = connection.call(State(name=container_id))
    except (LxcError, OSError):
        return "STOPPED", None
    finally:
        connection.close()
    return reply.state or "STOPPED", reply.pid


def status(ctx: Context, container_id: str) -> tuple[str, int | None]:
    """(OCI status, init pid)."""
    state, pid = daemon_state(ctx, container_id)
    return oci_state.status(ctx.root, container_id, state), pid


def request(ctx: Context, message: Request[R]) -> R:
    """A daemon request's reply; OciError with the daemon's reason when it fails."""
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError

    try:
        connection = open_connection(ctx.root)
    except LxcError as err:
        raise OciError(str(err)) from None
    try:
        return connection.call(message)
    except (LxcError, OSError) as err:
        raise OciError(str(err)) from None
    finally:
        connection.close()


def parse_signal(text: str) -> int:
    """runc's forms: a number, `KILL` or `SIGKILL`."""
    if text.isdigit():
        number = int(text)
        if 0 < number <= 64:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        value = getattr(signal, name, None)
        if isinstance(value, signal.Signals):
            return int(value)
    raise OciError(f"unknown signal {text!r}")


def cgroup_dirs(ctx: Context, container_id: str) -> dict[str, str]:
    """The container's cgroup directories (from its runtime record)."""
    from cli.attach_exec import read_json
    from runtime.client.rundir import records_dir

    try:
        with open(os.path.join(records_dir(ctx.root), container_id + ".json"), encoding="utf-8") as handle:
            record = read_json(handle.read())
    except (OSError, ValueError):
        return {}
    cgroups = record.get("cgroups")
    return {str(k): str(v) for k, v in cgroups.items()} if isinstance(cgroups, dict) else {}


def pids(ctx: Context, container_id: str) -> list[int]:
    """Every process in the container's cgroups (host pids), sorted."""
    found: set[int] = set()
    for directory in cgroup_dirs(ctx, container_id).values():
        for top, _dirs, files in os.walk(directory):
            if "cgroup.procs" not in files:
                continue
            try:
                with open(os.path.join(top, "cgroup.procs"), encoding="ascii") as handle:
                    found.update(int(line) for line in handle if line.strip())
            except (OSError, ValueError):
                continue
        if found:
            break  # one hierarchy holds them all
    return sorted(found)


def document(ctx: Context, container_id: str, data: dict[str, object]) -> dict[str, object]:
    text, pid = status(ctx, container_id)
    return oci_state.document(data, container_id, text, pid)
