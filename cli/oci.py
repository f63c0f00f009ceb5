"""`trio-lxc-oci`: the OCI runtime command line (runc's), on trio-lxc's daemon.

What containerd's `io.containerd.runc.v2` shim (and CRI-O, and Kubernetes through
either) calls: `create`, `start`, `state`, `kill`, `delete`, `exec`, `ps`, `pause`,
`resume`, `update`, `events`, plus `features`, `spec` and `--version`. Global
options as runc's: `--root DIR` (the "lxcpath": one daemon per root supervises its
containers, so `lxc-ls -P ROOT` and `lxc-monitor -P ROOT` show them), `--log FILE`
and `--log-format text|json` (an error is one line on stderr and one record in the
log, where the shim looks for it), `--systemd-cgroup` (refused: no systemd driver).

Errors as runc: one line on stderr, exit 1. The modules:
- `cli/oci_create.py` (create: translation, the exec FIFO, the console socket,
  the keeper that stands for the container's pid 1 in the shim's process tree),
- `cli/oci_ops.py` (start, state, kill, delete, pause, resume, ps, update, events),
- `cli/oci_exec.py` (exec), `cli/oci_info.py` (features, spec).
`run-hooks` is internal: the container's lxc.hook.start-host runs it for the
prestart and createRuntime hooks (cli/oci_create.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

VERSION = "0.1.0"
SPEC_VERSION = "1.1.0"
DEFAULT_ROOT = "/run/trio-lxc-oci"


class OciError(Exception):
    """What the command prints (one line) before exiting with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Context:
    """The global options every subcommand needs."""

    def __init__(self, root: str, log: str | None, log_format: str) -> None:
        self.root = os.path.abspath(root)
        self.log = log
        self.log_format = log_format

    def log_line(self, level: str, message: str) -> None:
        """One record in --log (runc's JSON or text form); nothing without --log."""
        if not self.log:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"
        if self.log_format == "json":
            line = json.dumps({"level": level, "msg": message, "time": stamp})
        else:
            line = f'time="{stamp}" level={level} msg={json.dumps(message)}'
        try:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError:
            pass

    def ensure_root(self) -> None:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.check_root()

    def check_root(self) -> None:
        from runtime.oci.state import check_root

        try:
            check_root(self.root)
        except ValueError as err:
            raise OciError(str(err)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-lxc-oci", description="OCI runtime (runc's command line) on trio-lxc"
    )
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--log")
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--systemd-cgroup", action="store_true")
    parser.add_argument("--criu")
    parser.add_argument("--rootless", default="auto")
    parser.add_argument("-v", "--version", action="store_true")
    sub = parser.add_subparsers(dest="command")

    create = sub.add_parser("create")
    create.add_argument("-b", "--bundle", default=".")
    create.add_argument("--pid-file")
    create.add_argument("--console-socket")
    create.add_argument("--no-pivot", action="store_true")
    create.add_argument("--no-new-keyring", action="store_true")
    create.add_argument("--preserve-fds", type=int, default=0)
    create.add_argument("id")

    for name in ("start", "pause", "resume"):
        sub.add_parser(name).add_argument("id")
    state = sub.add_parser("state")
    state.add_argument("id")

    kill = sub.add_parser("kill")
    kill.add_argument("-a", "--all", action="store_true")
    kill.add_argument("id")
    kill.add_argument("signal", nargs="?", default="SIGTERM")

    delete = sub.add_parser("delete")
    delete.add_argument("-f", "--force", action="store_true")
    delete.add_argument("id")

    ps = sub.add_parser("ps")
    ps.add_argument("-f", "--format", default="table", choices=("table", "json"))
    ps.add_argument("rest", nargs=argparse.REMAINDER, metavar="ID [PS ARGS...]")

    exec_ = sub.add_parser("exec")
    exec_.add_argument("-p", "--process")
    exec_.add_argument("-d", "--detach", action="store_true")
    exec_.add_argument("--pid-file")
    exec_.add_argument("--console-socket")
    exec_.add_argument("-t", "--tty", action="store_true")
    exec_.add_argument("--cwd")
    exec_.add_argument("-e", "--env", action="append", default=[])
    exec_.add_argument("-u", "--user")
    exec_.add_argument("--additional-gids", "-g", action="append", default=[])
    exec_.add_argument("--no-new-privs", action="store_true")
    exec_.add_argument("--preserve-fds", type=int, default=0)
    exec_.add_argument("rest", nargs=argparse.REMAINDER, metavar="ID [COMMAND...]")

    update = sub.add_parser("update")
    update.add_argument("-r", "--resources")
    update.add_argument("id")

    events = sub.add_parser("events")
    events.add_argument("--stats", action="store_true")
    events.add_argument("--interval", type=float, default=5.0)
    events.add_argument("id")

    hooks = sub.add_parser("run-hooks")  # internal: lxc.hook.start-host of create
    hooks.add_argument("--kinds", required=True)
    hooks.add_argument("id")
    hooks.add_argument("lxc_args", nargs="*")  # LXC's hook arguments: name, "lxc", type

    sub.add_parser("features")
    spec = sub.add_parser("spec")
    spec.add_argument("-b", "--bundle", default=".")
    spec.add_argument("--rootless", action="store_true")
    sub.add_parser("list")
    return parser


def _dispatch(ctx: Context, args: argparse.Namespace) -> int:
    command = args.command
    if command in ("exec", "ps"):  # ID, then the rest verbatim (`sh -c ...` keeps its -c)
        rest = [a for a in args.rest]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            raise OciError(f"{command}: a container id is required")
        args.id, rest = rest[0], rest[1:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        setattr(args, "exec_argv" if command == "exec" else "ps_args", rest)
    if command == "create":
        from cli import oci_create

        return oci_create.create(ctx, args)
    if command == "exec":
        from cli import oci_exec

        return oci_exec.run(ctx, args)
    if command in ("features", "spec"):
        from cli import oci_info

        return oci_info.features() if command == "features" else oci_info.spec(args)
    from cli import oci_ops

    handler = {"list": oci_ops.list_containers, "run-hooks": oci_ops.run_hooks}.get(command) or getattr(
        oci_ops, command
    )
    result: int = handler(ctx, args)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"trio-lxc-oci version {VERSION}\nspec: {SPEC_VERSION}")
        return 0
    if not args.command:
        parser.print_help()
        return 0
    ctx = Context(args.root, args.log, args.log_format)
    try:
        if args.systemd_cgroup:
            raise OciError("--systemd-cgroup: the systemd cgroup driver is not supported by trio-lxc-oci")
        if args.rootless == "true":
            raise OciError("--rootless: rootless containers are not supported by trio-lxc-oci")
        if args.criu:
            raise OciError("--criu: checkpoint and restore are not supported by trio-lxc-oci")
        if args.command not in ("features", "spec"):
            ctx.check_root()
        return _dispatch(ctx, args)
    except OciError as err:
        ctx.log_line("error", str(err))
        print(str(err), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
