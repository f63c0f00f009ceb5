"""`trio-lxc-oci exec`: another process in a running container (runc exec).

Done in the command itself, as `lxc-attach` does (cli/attach_exec.py), with
OCI's process.json semantics: exactly `env`, `cwd`, `user` (uid, gid,
additionalGids), `capabilities.bounding`, `rlimits`, `noNewPrivileges`,
`oomScoreAdj`; a field that cannot be honoured is refused, named.

A helper, forked and still in our pid namespace (the container never sees it),
joins the container's cgroups and every namespace of its init that differs
from ours (one setns on a pidfd, the mount namespace giving root and cwd),
checks that the program exists there (runc's error at exec time), drops the
bounding set, sets limits and ids, then forks the process, which appears in the
container's pid namespace and execs. The helper reports its pid and exits.

With --detach the process is re-parented to our caller's subreaper (the shim,
which reaps it and reports its exit); --pid-file gets its pid. Without it we
are the subreaper and wait, exiting with its status. A terminal (process.terminal
or --tty) is a new pty whose master goes to --console-socket.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import stat
from collections.abc import Callable

from cli import oci_common
from cli.attach_exec import Target
from cli.oci import Context, OciError
from runtime.kernel import linux
from runtime.oci import exec_creds
from runtime.oci.errors import SpecError
from runtime.oci.node import Node

_NS = (
    ("user", linux.CLONE_NEWUSER), ("cgroup", linux.CLONE_NEWCGROUP), ("ipc", linux.CLONE_NEWIPC),
    ("uts", linux.CLONE_NEWUTS), ("net", linux.CLONE_NEWNET), ("time", linux.CLONE_NEWTIME),
    ("mnt", linux.CLONE_NEWNS),
)  # fmt: skip


class Process:
    """process.json, checked."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.env: dict[str, str] = {}
        self.cwd = "/"
        self.uid = 0
        self.gid = 0
        self.groups: list[int] = []
        self.bounding: set[int] | None = None
        self.rlimits: list[tuple[int, int, int]] = []
        self.no_new_privs = False
        self.oom_score_adj: int | None = None
        self.terminal = False
        self.console_size: tuple[int, int] | None = None


def read_process(path: str) -> Process:
    from runtime.config.values import CAPABILITIES
    from runtime.oci.bundle_files import load_json

    try:
        node = Node(load_json(path, "process", beneath=False), "process")
    except SpecError as err:
        raise OciError(f"unable to read the process file: {err}") from None
    out = Process()
    try:
        node.fields(
            ("terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
             "noNewPrivileges", "oomScoreAdj"),
            refused=("commandLine", "ioPriority", "scheduler", "execCPUAffinity", "apparmorProfile", "selinuxLabel"),
        )  # fmt: skip
        args = node.get("args")
        out.args = args.strings() if args is not None else []
        env = node.get("env")
        for entry in env.strings() if env is not None else []:
            name, sep, value = entry.partition("=")
            if not sep:
                raise SpecError("process.env", f"'{entry}' is not NAME=VALUE")
            out.env[name] = value
        out.cwd = node.get_str("cwd") or "/"
        if not out.cwd.startswith("/"):
            raise SpecError("process.cwd", "must be an absolute path")
        out.terminal = node.get_bool("terminal")
        size = node.get("consoleSize")
        if size is not None:
            size.fields(("height", "width"))
            out.console_size = (_window(size, "height"), _window(size, "width"))
        user = node.get("user")
        if user is not None:
            user.fields(("uid", "gid", "additionalGids", "umask"), refused=("username",))
            out.uid, out.gid = _id(user, "uid"), _id(user, "gid")
            groups = user.get("additionalGids")
            out.groups = [_checked_id(g.integer(), g.path) for g in groups.items()] if groups is not None else []
            umask = user.get_int("umask")
            if umask is not None and umask != 0o022:
                raise SpecError("process.user.umask", "only 0022 is supported")
        caps = node.get("capabilities")
        if caps is not None:
            caps.fields(("bounding", "effective", "permitted", "inheritable", "ambient"))
            names = list(CAPABILITIES)
            bounding = caps.get("bounding")
            out.bounding = set()
            for item in bounding.items() if bounding is not None else []:
                text = item.text()
                name = text.removeprefix("CAP_").lower()
                if name not in names:
                    raise SpecError(item.path, f"unknown capability '{text}'")
                out.bounding.add(names.index(name))
            for key in ("inheritable", "ambient"):
                extra = caps.get(key)
                if extra is not None and extra.items():
                    raise SpecError(f"process.capabilities.{key}", "not supported")
            for key in ("effective", "permitted"):
                extra = caps.get(key)
                listed = {item.text().removeprefix("CAP_").lower() for item in extra.items()} if extra is not None else set()
                if out.uid != 0 and listed:
                    raise SpecError(f"process.capabilities.{key}", "capabilities of a non-root user are not supported")
                if out.uid == 0 and extra is not None and {names.index(n) for n in listed if n in names} != out.bounding:
                    raise SpecError(f"process.capabilities.{key}", "a set other than the bounding set is not supported")
        rlimits = node.get("rlimits")
        for item in rlimits.items() if rlimits is not None else []:
            item.fields(("type", "soft", "hard"))
            kind = item.get_str("type") or ""
            number = getattr(resource, kind, None)
            if not isinstance(number, int):
                raise SpecError(f"{item.path}.type", f"unknown resource limit '{kind}'")
            out.rlimits.append((number, _limit(item.get_int("soft")), _limit(item.get_int("hard"))))
        out.no_new_privs = node.get_bool("noNewPrivileges")
        out.oom_score_adj = node.get_int("oomScoreAdj")
    except SpecError as err:
        raise OciError(f"process: {err}") from None
    if not out.args:
        raise OciError("process: args must not be empty")
    return out


def _checked_id(value: int, field: str) -> int:
    try:
        return exec_creds.check_id(value, field)
    except ValueError as err:
        field, _, reason = str(err).partition(": ")
        raise SpecError(field, reason) from None


def _id(node: Node, key: str) -> int:
    value = node.get_int(key)
    return 0 if value is None else _checked_id(value, f"{node.path}.{key}")


def _window(node: Node, key: str) -> int:
    value = node.get_int(key) or 0
    if not 0 <= value <= 0xFFFF:
        raise SpecError(f"{node.path}.{key}", f"{value} is not a terminal size (0 to 65535)")
    return value


def _limit(value: int | None) -> int:
    if value is None or value < 0 or value >= 2**63:
        return resource.RLIM_INFINITY
    return value


def _from_flags(args: argparse.Namespace, data: dict[str, object]) -> Process:
    """runc exec without --process: the container's own process (user, env, cwd, as
    create kept them in oci.json), the command line's flags over it."""
    from runtime.oci.exec_defaults import defaults

    out = Process()
    out.args = list(args.exec_argv)
    if not out.args:
        raise OciError("exec: a command or --process is required")
    try:
        kept = defaults(data)
    except ValueError as err:
        raise OciError(f"oci.json: {err}") from None
    out.env = dict(kept.env)
    out.uid, out.gid, out.groups, out.cwd = kept.uid, kept.gid, list(kept.groups), kept.cwd
    for item in args.env:
        name, _, value = item.partition("=")
        out.env[name] = value
    try:
        if args.user:
            uid, _, gid = args.user.partition(":")
            out.uid = exec_creds.parse_id(uid, "--user")
            out.gid = exec_creds.parse_id(gid, "--user") if gid else 0
        if args.additional_gids:
            out.groups = [exec_creds.parse_id(g, "--additional-gids") for g in args.additional_gids]
    except ValueError as err:
        raise OciError(str(err)) from None
    if args.cwd is not None:
        if not args.cwd.startswith("/"):
            raise OciError(f"--cwd: '{args.cwd}' is not an absolute path")
        out.cwd = args.cwd
    out.no_new_privs = args.no_new_privs or kept.no_new_privs
    out.terminal = args.tty
    return out


def run(ctx: Context, args: argparse.Namespace) -> int:
    from cli.attach_exec import find_target

    container_id = args.id
    data = oci_common.load(ctx, container_id)
    if args.preserve_fds:
        raise OciError("--preserve-fds: passing extra fds is not supported by trio-lxc-oci")
    process = read_process(args.process) if args.process else _from_flags(args, data)
    process.terminal = process.terminal or args.tty
    status, _pid = oci_common.status(ctx, container_id)
    if status == "paused":
        raise OciError("cannot exec in a paused container")
    if status not in ("running", "created"):
        raise OciError("cannot exec a container that has stopped")
    if process.terminal and not args.console_socket:
        raise OciError("exec: a terminal needs --console-socket (no terminal proxy here)")
    try:
        target = find_target(ctx.root, container_id, None)
    except Exception as err:  # noqa: BLE001 - LxcError: not running
        raise OciError(str(err)) from None
    master = slave = -1
    if process.terminal:
        master, slave = os.openpty()
        from cli.oci_create import _send_console

        if process.console_size:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", *process.console_size, 0, 0))

        try:
            _send_console(args.console_socket, master)
        except OSError as err:
            os.close(slave)
            raise OciError(f"--console-socket: cannot send the terminal to {args.console_socket}: {err.strerror}") from None
        finally:
            os.close(master)
    if not args.detach:
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    pid = _spawn(target, process, slave)
    if slave >= 0:
        os.close(slave)
    if args.pid_file:
        from cli.oci_create import _write_pid_file

        _write_pid_file(args.pid_file, pid)
    if args.detach:
        return 0
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else 128 + os.WTERMSIG(wait_status)


def _spawn(target: Target, process: Process, slave: int) -> int:
    """Fork the helper; the pid of the process it started (OciError: its reason)."""
    from cli import attach_seccomp

    init_pid, cgroups = target.pid, target.cgroups
    load_filter = attach_seccomp.loader(target)  # imported now: the host's files go
    try:
        pidfd = os.pidfd_open(init_pid)
        # Pinned: the status read now is the init's (exec_creds: never more than it).
        bounding, no_new_privs = exec_creds.init_status(init_pid)
    except OSError:
        raise OciError("container not running") from None
    if process.bounding is None:
        process.bounding = bounding
    process.no_new_privs = process.no_new_privs or no_new_privs
    joins = _namespaces_to_join(init_pid)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the helper
        code = 1
        try:
            os.close(report_r)
            code = _helper(
                pidfd, joins, cgroups, process, slave, report_w,
                lambda: attach_seccomp.load(target, load_filter),
            )  # fmt: skip
        except BaseException as err:  # noqa: BLE001 - reported, never raised
            _report(report_w, f"exec failed: {err}")
        os._exit(code)
    os.close(report_w)
    os.close(pidfd)
    chunks = []
    while True:
        chunk = os.read(report_r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(report_r)
    os.waitpid(helper, 0)
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    pids = [int(line[4:]) for line in lines if line.startswith("pid ") and line[4:].isdigit()]
    errors = [line for line in lines if not line.startswith("pid ")]
    if pids and not errors:
        return pids[0]
    for pid in pids:
        # It failed before its exec and is exiting: collect it if it came to us (we are
        # its subreaper unless --detach). Not WNOHANG: it may not have exited yet, and
        # left to our caller's subreaper it would stay a zombie in the container's pid
        # namespace, whose init then cannot finish dying until that reaper looks.
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    raise OciError(errors[0] if errors else "exec failed: the helper died")


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode(errors="replace") + b"\n")
    except OSError:
        pass


def _namespaces_to_join(pid: int) -> set[str]:
    names = set()
    for name in ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt"):
        try:
            if os.stat(f"/proc/{pid}/ns/{name}").st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
                names.add(name)
        except OSError:
            continue
    return names


def _find_program(argv0: str, env: dict[str, str]) -> str | None:
    """None when argv0 can be run in our (the container's) root, else runc's error."""
    candidates = [argv0] if "/" in argv0 else [os.path.join(d or ".", argv0) for d in env.get("PATH", "").split(":")]
    for path in candidates:
        try:
            if stat.S_ISREG(os.stat(path).st_mode) and os.access(path, os.X_OK):
                return None
        except OSError:
            continue
    return f'exec failed: exec: "{argv0}": executable file not found in $PATH'


def _helper(
    pidfd: int, joins: set[str], cgroups: dict[str, str], process: Process, slave: int, report: int,
    load_seccomp: Callable[[], bool],
) -> int:  # fmt: skip
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    for path in cgroups.values():
        try:
            with open(os.path.join(path, "cgroup.procs"), "w", encoding="ascii") as handle:
                handle.write("0")
        except FileNotFoundError:
            continue
    flags = 0
    for name, flag in _NS:
        if name in joins:
            flags |= flag
    if flags:
        linux.setns(pidfd, flags)
    try:
        os.chdir(process.cwd)
    except OSError as err:
        _report(report, f"exec failed: chdir to cwd (\"{process.cwd}\") set in config.json failed: {err.strerror}")
        return 1
    missing = _find_program(process.args[0], process.env)
    if missing:
        _report(report, missing)
        return 1
    if process.bounding is not None:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            last = int(handle.read())
        for cap in range(last + 1):
            if cap not in process.bounding:
                linux.prctl(linux.PR_CAPBSET_DROP, cap)
    for number, soft, hard in process.rlimits:
        resource.setrlimit(number, (soft, hard))
    if process.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as handle:
            handle.write(str(process.oom_score_adj))
    if "pid" in joins:
        linux.setns(pidfd, linux.CLONE_NEWPID)
    os.close(pidfd)
    # Inheritable and ambient sets: the caller's, and not limited by the bounding
    # set at execve (a root process gets its inheritable ones back): none.
    linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    effective, permitted, _inheritable = linux.capget()
    linux.capset(effective, permitted, 0)
    if not load_seccomp():  # the container's filter (lxc.seccomp.profile), while root
        _report(report, "exec failed: cannot load the container's seccomp filter")
        return 1
    os.setgroups(process.groups)
    os.setresgid(process.gid, process.gid, process.gid)
    os.setresuid(process.uid, process.uid, process.uid)
    # Root keeps every capability until its execve: the program's path is resolved
    # with them, and CAP_SYS_PTRACE would follow a container's symlink to a magic
    # link such as /proc/1/exe (the host's Python while the init waits at its gate).
    mask = sum(1 << cap for cap in process.bounding or ())
    effective, permitted, _inheritable = linux.capget()
    linux.capset(effective & mask, permitted & mask, 0)
    if process.no_new_privs:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if slave >= 0:
                import fcntl
                import termios

                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.close(slave)
            os.closerange(3, report)
            os.closerange(report + 1, 65536)
            os.execvpe(process.args[0], process.args, process.env)
        except OSError as err:
            _report(report, f"exec failed: {err}")
        os._exit(127)
    _report(report, f"pid {pid}")
    return 0
