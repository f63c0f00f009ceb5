"""The container's own process, as `exec` without --process starts from it.

runc's `exec ID CMD` runs CMD as the container's process.user, in its cwd, with
its env (the flags over them), not as uid 0 with a bare PATH: a container whose
program runs as uid 1000 must not get root processes from a plain exec. `create`
keeps those fields in oci.json ("process"); `defaults` reads them back, checked
again (oci.json is a file on disk: nothing in it is trusted blindly).
"""

from __future__ import annotations

from runtime.oci import exec_creds

#: runc's PATH when the container's process has none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Defaults:
    """uid, gid, groups, env, cwd and no_new_privs of the container's process."""

    def __init__(self) -> None:
        self.uid = 0
        self.gid = 0
        self.groups: list[int] = []
        self.env: dict[str, str] = {"PATH": DEFAULT_PATH}
        self.cwd = "/"
        self.no_new_privs = False


def record(uid: int, gid: int, groups: list[int], env: list[str], cwd: str, no_new_privs: bool) -> dict[str, object]:
    """What `create` stores in oci.json under "process"."""
    return {"uid": uid, "gid": gid, "additionalGids": groups, "env": env, "cwd": cwd, "noNewPrivileges": no_new_privs}


def defaults(data: dict[str, object]) -> Defaults:
    """The stored process of oci.json `data`; runc's defaults for what is missing.

    ValueError (naming the field) for a damaged record: never root's defaults instead."""
    out = Defaults()
    kept = data.get("process")
    if not isinstance(kept, dict):
        return out
    out.uid = exec_creds.check_id(kept.get("uid"), "process.user.uid")
    out.gid = exec_creds.check_id(kept.get("gid"), "process.user.gid")
    groups = kept.get("additionalGids")
    if not isinstance(groups, list):
        raise ValueError("process.user.additionalGids: must be an array")
    out.groups = [exec_creds.check_id(g, "process.user.additionalGids") for g in groups]
    env = kept.get("env")
    if isinstance(env, list):
        out.env = {}
        for item in env:
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                out.env[name] = value
    cwd = kept.get("cwd")
    if isinstance(cwd, str) and cwd.startswith("/"):
        out.cwd = cwd
    out.no_new_privs = kept.get("noNewPrivileges") is True
    return out
