"""The OCI side of a container's directory in `--root` (the lxcpath).

`<root>/<id>/config` is the LXC config the translation made (the daemon starts
it like any other container), `<root>/<id>/oci.json` what only the OCI command
knows (bundle, creation time, annotations, hooks, the keeper's pid), and
`<root>/<id>/exec.fifo` exists from `create` until `start` (the "created" state:
runtime.spawn.exec_gate). The status is computed, never stored: the daemon's
state, plus the FIFO to tell "created" from "running".

Standard library only (the OCI command is a client like the lxc-* ones).
"""

from __future__ import annotations

import json
import os
import re
import time

FIFO = "exec.fifo"
TERMINAL = "exec.terminal"
STATE_FILE = "oci.json"
CONFIG = "config"

#: runc's rule for container ids.
_ID = re.compile(r"^[\w+\-.]+$")

#: daemon state -> OCI status (RUNNING is "created" while the FIFO exists).
_STATUS = {
    "STARTING": "creating",
    "RUNNING": "running",
    "FREEZING": "paused",
    "FROZEN": "paused",
    "THAWED": "running",
    "STOPPING": "stopped",
    "ABORTING": "stopped",
    "STOPPED": "stopped",
}


class NotFound(Exception):
    """No container of that id under the root."""


def check_id(container_id: str) -> str:
    if not _ID.match(container_id) or container_id in (".", "..") or len(container_id) > 64:
        raise ValueError(f"invalid container id format: {container_id}")
    return container_id


def directory(root: str, container_id: str) -> str:
    return os.path.join(root, container_id)


def rfc3339(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int((seconds % 1) * 1e9):09d}Z"


def write(root: str, container_id: str, data: dict[str, object]) -> None:
    """oci.json, atomically (write, fsync, rename)."""
    path = os.path.join(directory(root, container_id), STATE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, path)


def read(root: str, container_id: str) -> dict[str, object]:
    path = os.path.join(directory(root, container_id), STATE_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise NotFound(container_id) from None
    if not isinstance(data, dict):
        raise NotFound(container_id)
    return data


def status(root: str, container_id: str, daemon_state: str | None) -> str:
    """The OCI status from the daemon's state and the exec FIFO."""
    oci = _STATUS.get(daemon_state or "STOPPED", "stopped")
    if oci == "running" and os.path.exists(os.path.join(directory(root, container_id), FIFO)):
        return "created"
    return oci


def document(
    data: dict[str, object], container_id: str, status_text: str, pid: int | None
) -> dict[str, object]:
    """The state JSON of `runc state` (and of the hooks' stdin)."""
    doc: dict[str, object] = {
        "ociVersion": data.get("oci_version") or "1.0.2",
        "id": container_id,
        "pid": pid if status_text not in ("stopped",) and pid else 0,
        "status": status_text,
        "bundle": data.get("bundle") or "",
        "rootfs": data.get("rootfs") or "",
        "created": data.get("created") or "",
        "owner": "",
    }
    annotations = data.get("annotations")
    if annotations:
        doc["annotations"] = annotations
    return doc
