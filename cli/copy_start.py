"""lxc-copy -e: the copy's settings, its random name, and its start.

As LXC: without -N the copy is named `NAME_XXXXXX` (six random letters and
digits); it gets `lxc.ephemeral = 1` unless -D keeps it; `-m bind=SRC[:DEST][:ro]`
adds bind mounts; it starts daemonized (-d, the default) or in the foreground
with the console on this terminal (-F). The daemon destroys it when it stops
(runtime.daemon.ephemeral). A copy whose start fails is destroyed here at once (LXC
leaves it behind): nothing made by a failed command stays.
"""

from __future__ import annotations

import os
import secrets
import string

from cli.options import Namespace

_ALPHABET = string.ascii_letters + string.digits


def check_start_options(args: Namespace) -> None:
    from runtime.client.errors import LxcError

    if not args.ephemeral:
        for flag, given in (("-F", args.foreground), ("-d", args.daemon), ("-D", args.keepdata),
                            ("-m", args.mount), ("-t", args.tmpfs)):  # fmt: skip
            if given:
                raise LxcError(f"{flag} can only be given with -e (an ephemeral copy)")
    if args.foreground and args.daemon:
        raise LxcError("-F and -d exclude each other")
    if args.tmpfs:
        raise LxcError("-t (an ephemeral copy on a tmpfs) is not supported; leave it out")


def unused_name(lxcpath: str, name: str) -> str:
    for _ in range(100):
        candidate = f"{name}_{''.join(secrets.choice(_ALPHABET) for _ in range(6))}"
        if not os.path.lexists(os.path.join(lxcpath, candidate)):
            return candidate
    raise RuntimeError("no free name for the ephemeral copy")


def mount_entries(specs: list[str]) -> list[tuple[str, str]]:
    """`-m bind=/src[:/dest][:ro|rw],...` as lxc.mount.entry lines."""
    from runtime.client.errors import LxcError

    entries = []
    for spec in (part for item in specs for part in item.split(",") if part):
        kind, sep, rest = spec.partition("=")
        if kind == "overlay":
            raise LxcError("-m overlay=...: overlay mounts are not supported; use bind=")
        if kind != "bind" or not sep or not rest.startswith("/"):
            raise LxcError(f"-m {spec}: expected bind=/src-path[:/dst-path][:ro|rw]")
        fields = rest.split(":")
        mode = "rw"
        if fields[-1] in ("ro", "rw"):
            mode = fields.pop()
        if len(fields) > 2 or not all(f.startswith("/") for f in fields):
            raise LxcError(f"-m {spec}: expected bind=/src-path[:/dst-path][:ro|rw]")
        src, dest = fields[0], fields[-1]
        options = "bind,create=dir" + (",ro" if mode == "ro" else "")
        entries.append(("lxc.mount.entry", f"{src} {dest.lstrip('/')} none {options} 0 0"))
    return entries


def ephemeral_settings(args: Namespace, lxcpath: str, name: str) -> list[tuple[str, str]]:
    settings = [] if args.keepdata else [("lxc.ephemeral", "1")]
    return settings + mount_entries(args.mount or [])


def start_copy(args: Namespace, lxcpath: str, name: str) -> int:
    """Start the copy as lxc-start does; destroy it again if that fails."""
    from cli import lxc_start
    from runtime.storage import store

    argv = ["-n", name, "-P", lxcpath, "-F" if args.foreground else "-d"]
    rc = lxc_start.main(argv)
    if rc != 0 and not args.foreground:
        try:
            store.destroy(lxcpath, name)
        except Exception:  # noqa: BLE001 - the start's error was printed; this is tidying
            pass
    return rc
