"""What `lxc-attach` does, in the command itself (as LXC does it; the daemon is not asked).

1. The target: the container's runtime record (init pid, its start time, cgroup
   paths) and its config (lxc.environment, lxc.cap.*, lxc.init.uid/gid,
   lxc.no_new_privs). No live record: `Failed to get init pid`, exit 1.
2. A pidfd on the init; the namespaces to join are those of the init that differ
   from ours (all of them, or those of `-s`).
3. Stdio: when any of our stdin/stdout/stderr is a terminal, a pty is opened from
   the container's own devpts instance (`/proc/PID/root/dev/pts/ptmx`, looked up
   with openat2 RESOLVE_IN_ROOT so the container's symlinks cannot point it at the
   host; the host's /dev/ptmx when that fails, e.g. lxc.pty.max is used up); each
   of 0, 1, 2 that is a terminal becomes the pty's slave, the others are passed as
   they are. So `lxc-attach -- cmd < in > out 2> err` redirects exactly like a
   local command, and an interactive shell gets a terminal of the container.
4. A helper (forked, still in our pid namespace, so the container never sees it)
   joins the container's cgroups (created in its cgroup2 directory, then writes
   itself into each v1 `tasks` file of the record: attached processes are counted, keep the container RUNNING and are
   killed by lxc-stop), then every other namespace in one setns(pidfd, ...) call
   (user first, done by the kernel; the mount namespace puts root and cwd in the
   container), goes to the directory we were in when the container has it (else
   /), reads the user's shell from the container's /etc/passwd, closes every fd
   but the command's stdio, drops the capabilities lxc.cap.drop/keep take away
   from its bounding set, blanks its command line and environment, switches ids
   and makes itself non-dumpable. Only then does it join the pid namespace (for
   its children) and fork the attached process, and exit.
5. The attached process, the first thing the container sees (non-dumpable until
   exec, holding nothing of the host but its stdio), gets the pty as its
   controlling terminal and execs CMD, or the user's shell (/bin/sh when there
   is none). We are a subreaper, so it becomes our child when the helper exits
   (the helper tells us its pid) and we wait for it directly.
6. We proxy the terminal (raw mode when we read it) until the child exits, then
   exit with its status (128+N for a signal). A missing binary is
   `Failed to exec "X": No such file or directory` and 127 (126 for other exec
   errors), as LXC.

Environment (LXC's rules): by default ours is kept; --clear-env starts from nothing
but PATH (a standard one unless --keep-var PATH); then `container=lxc`, then
lxc.environment, then each -v VAR=VALUE. --keep-var VAR keeps VAR with --clear-env.

`-s` restricts the namespaces and implies `-e` (no cgroups, no capability drop),
as in LXC; `-e CAP|CGROUP|LSM` elevates the named privileges only.

Standard library only (ctypes through runtime.kernel.linux, loaded on first use).
"""

from __future__ import annotations

# `_signal`, not `signal`: the latter imports enum, which costs every attach milliseconds.
import _signal as signal
import errno
import os
import stat

from cli import attach_keys, attach_seccomp
from runtime.client.errors import LxcError
from runtime.kernel import linux, ptys

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: -s names (LXC's, and the /proc/PID/ns names) -> the /proc/PID/ns name.
NAMESPACE_NAMES = {
    "MOUNT": "mnt", "MNT": "mnt", "PID": "pid", "UTSNAME": "uts", "UTS": "uts",
    "IPC": "ipc", "USER": "user", "NETWORK": "net", "NET": "net", "CGROUP": "cgroup",
}  # fmt: skip
CLONE_FLAGS = {
    "user": linux.CLONE_NEWUSER,
    "mnt": linux.CLONE_NEWNS,
    "pid": linux.CLONE_NEWPID,
    "uts": linux.CLONE_NEWUTS,
    "ipc": linux.CLONE_NEWIPC,
    "net": linux.CLONE_NEWNET,
    "cgroup": linux.CLONE_NEWCGROUP,
}
ALL_NAMESPACES = tuple(CLONE_FLAGS)
PRIVILEGES = ("CAP", "CGROUP", "LSM")
#: Signals passed on to the attached process.
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
#: ioctl(2): make a terminal the controlling terminal.
TIOCSCTTY = 0x540E


def parse_namespaces(text: str) -> set[str]:
    """`-s MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP` (LXC's names or mnt, uts, net...)."""
    names = set()
    for part in text.replace(",", "|").split("|"):
        part = part.strip()
        if not part:
            continue
        if part.upper() not in NAMESPACE_NAMES:
            raise ValueError(f"invalid namespace '{part}' (one of MOUNT|PID|UTSNAME|IPC|USER|NETWORK|CGROUP)")
        names.add(NAMESPACE_NAMES[part.upper()])
    if not names:
        raise ValueError("no namespace given")
    return names


def parse_privileges(text: str | None) -> set[str]:
    """`-e [CAP|CGROUP|LSM]`: the privileges to keep (all when none named)."""
    if not text:
        return set(PRIVILEGES)
    names = set()
    for part in text.split("|"):
        part = part.strip().upper()
        if part and part not in PRIVILEGES:
            raise ValueError(f"invalid privilege '{part}' (one of CAP|CGROUP|LSM)")
        if part:
            names.add(part)
    return names


class Options:
    """What to run and how (from the command line)."""

    def __init__(
        self,
        *,
        argv: list[str],
        namespaces: set[str] | None = None,
        elevated: set[str] | None = None,
        clear_env: bool = False,
        set_vars: list[str] | None = None,
        keep_vars: list[str] | None = None,
        uid: int | None = None,
        gid: int | None = None,
        remount: bool = False,
        pty_log: str | None = None,
        personality: int | None = None,
    ) -> None:
        self.argv = argv
        self.personality = personality  # -a ARCH (attach_keys.arch_personality)
        self.namespaces = namespaces
        self.elevated = set(elevated or ())
        if namespaces is not None:  # -s implies -e (LXC)
            self.elevated = set(PRIVILEGES)
        self.clear_env = clear_env
        self.set_vars = list(set_vars or ())
        self.keep_vars = list(keep_vars or ())
        self.uid = uid
        self.gid = gid
        self.remount = remount
        self.pty_log = pty_log


class Target:
    """The running container: init pid and start time, cgroups, config values."""

    def __init__(self, name: str, pid: int, start_time: int | None, cgroups: dict[str, str]) -> None:
        self.name = name
        self.pid = pid
        self.start_time = start_time
        self.cgroups = cgroups
        #: The containers' directory: a file written for the attach (-L) follows no
        #: symlink beneath it (runtime.storage.hostfiles.open_for_append).
        self.lxcpath = ""
        #: The host directories the container can change (its rootfs: -L likewise).
        self.trees: list[str] = []
        self.environment: list[str] = []
        self.cap_drop: list[str] = []
        self.cap_keep: list[str] = []
        self.uid = 0
        self.gid = 0
        self.no_new_privs = False
        self.seccomp: bytes | None = None  # lxc.seccomp.profile, compiled (cli.attach_seccomp)
        self.seccomp_allow_nesting = False


def find_target(lxcpath: str, name: str, rcfile: str | None) -> Target:
    """The container from its runtime record; LxcError (exit 1) when it is not running."""
    from runtime.client.rundir import records_dir  # not runtime.client.records: it imports json
    from runtime.client.status import process_start_time

    try:
        with open(os.path.join(records_dir(lxcpath), name + ".json"), encoding="utf-8") as handle:
            record = read_json(handle.read())
        pid = record["pid"]
        start_time = record.get("pid_start_time")
        state = str(record.get("state"))
        if not isinstance(pid, int) or not isinstance(start_time, int | None):
            raise TypeError("a record without an init pid")
    except (OSError, ValueError, KeyError, TypeError):
        raise LxcError(f"Failed to get init pid: {name} is not running") from None
    if state in ("STOPPED", "STOPPING", "ABORTING") or process_start_time(pid) != start_time:
        raise LxcError(f"Failed to get init pid: {name} is not running")
    cgroups = record.get("cgroups")
    cgroups = cgroups if isinstance(cgroups, dict) else {}
    target = Target(name, pid, start_time, {str(k): str(v) for k, v in cgroups.items()})
    target.lxcpath = lxcpath
    settings = record.get("attach")
    if rcfile is None and isinstance(settings, dict):
        _from_record(target, settings)
    else:
        config_path = record.get("config_path")
        _read_config(target, rcfile or str(config_path or os.path.join(lxcpath, name, "config")))
    return target


def _from_record(target: Target, settings: dict[str, object]) -> None:
    """The settings the daemon wrote for attach (runtime.daemon.attach_record)."""
    target.environment = _strings(settings.get("environment"))
    target.cap_drop = _strings(settings.get("cap_drop"))
    target.cap_keep = _strings(settings.get("cap_keep"))
    uid, gid = settings.get("uid"), settings.get("gid")
    target.uid = uid if isinstance(uid, int) else 0
    target.gid = gid if isinstance(gid, int) else 0
    target.no_new_privs = bool(settings.get("no_new_privs"))
    target.trees = _strings(settings.get("trees"))
    attach_seccomp.from_record(target, settings)


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _read_config(target: Target, path: str) -> None:
    """-f FILE, or a record without attach settings: read them from a config file."""
    from runtime.client.errors import ConfigError
    from runtime.config.parser import parse_file

    try:
        raw = parse_file(path)
    except (ConfigError, OSError):
        return  # attach with the defaults: the container runs whatever its config says now
    target.environment = raw.get_all("lxc.environment")
    target.cap_drop = " ".join(raw.get_all("lxc.cap.drop")).split()
    target.cap_keep = " ".join(raw.get_all("lxc.cap.keep")).split()
    for key, attr in (("lxc.init.uid", "uid"), ("lxc.init.gid", "gid")):
        value = raw.get(key)
        if value and value.isdigit():
            setattr(target, attr, int(value))
    target.no_new_privs = (raw.get("lxc.no_new_privs") or "0").strip() == "1"
    from runtime.storage.spec import container_trees  # dataclasses: only on this rare path

    target.trees = list(container_trees(raw.get("lxc.rootfs.path"), raw.get("lxc.rootfs.mount")))
    attach_seccomp.from_config(target, raw, path)


def read_json(text: str) -> dict[str, object]:
    """A runtime record: JSON, read without the `json` module when it can be.

    `json` imports `re` (and `re` imports `enum`): together more than a third of an
    attach's own start-up. A record is small and plain (objects, arrays, strings,
    integers, true/false/null), which a few lines read; anything else goes to
    `json`.
    """
    try:
        value, end = _json_value(text, _skip(text, 0))
        if _skip(text, end) != len(text) or not isinstance(value, dict):
            raise ValueError("trailing data")
        return value
    except (ValueError, IndexError):
        import json

        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("a runtime record is a JSON object") from None
        return value


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _json_value(text: str, i: int) -> tuple[object, int]:
    from _json import scanstring

    char = text[i]
    if char == '"':
        return scanstring(text, i + 1, True)
    if char == "{":
        obj: dict[str, object] = {}
        i = _skip(text, i + 1)
        if text[i] == "}":
            return obj, i + 1
        while True:
            if text[i] != '"':
                raise ValueError("key expected")
            key, i = scanstring(text, i + 1, True)
            i = _skip(text, i)
            if text[i] != ":":
                raise ValueError("colon expected")
            obj[key], i = _json_value(text, _skip(text, i + 1))
            i = _skip(text, i)
            if text[i] == "}":
                return obj, i + 1
            if text[i] != ",":
                raise ValueError("comma expected")
            i = _skip(text, i + 1)
    if char == "[":
        items: list[object] = []
        i = _skip(text, i + 1)
        if text[i] == "]":
            return items, i + 1
        while True:
            item, i = _json_value(text, i)
            items.append(item)
            i = _skip(text, i)
            if text[i] == "]":
                return items, i + 1
            if text[i] != ",":
                raise ValueError("comma expected")
            i = _skip(text, i + 1)
    for word, value in (("null", None), ("true", True), ("false", False)):
        if text.startswith(word, i):
            return value, i + len(word)
    end = i
    while end < len(text) and text[end] in "-0123456789":
        end += 1
    if end == i or (end < len(text) and text[end] in ".eE"):
        raise ValueError("not a plain integer")
    return int(text[i:end]), end


# -- the parent ---------------------------------------------------------------------------


def attach(target: Target, options: Options) -> int:
    """Run the command in the container; its exit status (128+N for a signal)."""
    try:
        pidfd = os.pidfd_open(target.pid)
    except OSError:
        raise LxcError(f"Failed to get init pid: {target.name} is not running") from None
    try:
        from runtime.client.status import process_start_time

        if process_start_time(target.pid) != target.start_time:
            raise LxcError(f"Failed to get init pid: {target.name} is not running")
        joins = _namespaces_to_join(target.pid, options.namespaces)
        # Everything the helper needs is computed (and imported) here: once it has
        # joined the container's mount namespace, the host's Python files are gone.
        prepared = Prepared(target, options)
        terminals = [fd for fd in (0, 1, 2) if _isatty(fd)]
        master = slave = -1
        log_fd = None
        if terminals:
            master, slave = _open_pty(target.pid if "mnt" in joins else None)
            if options.pty_log:
                log_fd = _open_pty_log(options.pty_log, [target.lxcpath, *target.trees])
        # The attached process is the helper's child; when the helper exits it is
        # re-parented to us (a subreaper), so that we wait for it directly.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        joined, helper = _fork_helper(target, options)
        if helper == 0:
            _helper(target, options, pidfd, joins, slave, report_w, terminals, prepared, joined)  # never returns
        os.close(report_w)
        if slave >= 0:
            os.close(slave)
    finally:
        os.close(pidfd)
    try:
        pid, failed = _attached_pid(helper, report_r)
        if pid is None:
            return failed
        if master >= 0:
            return _proxy_and_wait(pid, master, terminals, log_fd)
        return _wait(pid)
    finally:
        if master >= 0:
            os.close(master)
        if log_fd is not None:
            os.close(log_fd)


def _attached_pid(helper: int, report: int) -> tuple[int | None, int]:
    """(pid of the attached process, 0), or (None, exit status) when the helper failed.

    The helper writes the pid (in our pid namespace) and exits; the pipe ends when
    the attached process execs or exits (its copy is close-on-exec, and it closes
    it first thing anyway).
    """
    data = b""
    try:
        while chunk := os.read(report, 32):
            data += chunk
            if len(data) > 32:
                break
    finally:
        os.close(report)
    _, status = os.waitpid(helper, 0)
    if not data.strip().isdigit():
        return None, _exit_code(status) or 1
    pid = int(data)
    try:  # ours since the helper exited: anything else is not the attached process
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        raise LxcError(f"Failed to create the attached process: {pid} is not our child") from None
    return pid, 0


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _namespaces_to_join(pid: int, wanted: set[str] | None) -> set[str]:
    """The namespaces of `pid` (all, or `wanted`) that are not already ours."""
    joins = set()
    for name in ALL_NAMESPACES if wanted is None else sorted(wanted):
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{name}")
        except OSError:
            if wanted is not None:
                raise LxcError(f"Failed to open the {name} namespace of {pid}") from None
            continue
        try:
            ours = os.stat(f"/proc/self/ns/{name}")
        except OSError:
            ours = None
        if ours is None or (theirs.st_ino, theirs.st_dev) != (ours.st_ino, ours.st_dev):
            joins.add(name)
    return joins


def _open_pty(pid: int | None) -> tuple[int, int]:
    """A pty from the container's devpts when the command joins its mount namespace
    (pid given), else from the host's.

    Never the host's for a process inside the container's mount namespace: the
    container would hold a terminal of the host's devpts (a host fd). A container
    whose devpts cannot give one (unmounted, lxc.pty.max reached) is refused, saying
    how to attach without a terminal.
    """
    if pid is None:
        try:
            return ptys.open_pair("/dev/ptmx")
        except OSError as err:
            raise LxcError(f"Failed to allocate a pseudo terminal: {err.strerror}") from None
    try:
        root = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise LxcError(f"Failed to allocate a pseudo terminal: cannot reach the container's root: {err.strerror}") from None
    try:
        fd = linux.openat2(
            root, "dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC, 0,
            linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS,
        )  # fmt: skip
        info = os.fstat(fd)
        if not stat.S_ISCHR(info.st_mode) or info.st_rdev != os.makedev(5, 2):
            os.close(fd)
            raise OSError(errno.ENODEV, "its /dev/pts/ptmx is not a pty multiplexer")
        return ptys.open_pair(fd)
    except OSError as err:
        raise LxcError(
            f"Failed to allocate a pseudo terminal in the container's /dev/pts: {err.strerror}; "
            "redirect the command's input and output (e.g. </dev/null | cat) to attach without one"
        ) from None
    finally:
        os.close(root)


def _wait(pid: int) -> int:
    """Wait for the attached process, passing on signals sent to us."""

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (*FORWARDED, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, forward)
    _, status = os.waitpid(pid, 0)
    return _exit_code(status)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _open_pty_log(path: str, trees: list[str]) -> int:
    """lxc-attach -L FILE, opened before anything is attached (it was opened once the
    attached process ran, and by path): beneath the lxcpath and the container's own
    trees (its rootfs), where files are the containers' to replace (the pty output
    written there is the container's too), no symlink is followed and only a regular
    file is taken (runtime.storage.hostfiles.open_for_append)."""
    from runtime.storage.hostfiles import open_for_append

    try:
        return open_for_append(os.path.abspath(path), [tree for tree in trees if tree], 0o600)
    except OSError as err:
        raise LxcError(f"Failed to open the pty log {path}: {err.strerror}") from None


def _proxy_and_wait(pid: int, master: int, terminals: list[int], log_fd: int | None) -> int:
    from cli.terminal import Proxy, RawTerminal

    term_in = 0 if 0 in terminals else None
    term_out = next((fd for fd in (1, 2, 0) if fd in terminals), terminals[0])
    status: list[int] = []

    def on_signal(signum: int) -> bool:
        if signum == signal.SIGCHLD:
            if not status:
                done, code = os.waitpid(pid, os.WNOHANG)
                if done:
                    status.append(code)
            if status:
                proxy.drain_remote()
                return True
            return False
        try:
            os.killpg(pid, signum)  # the attached process leads its own session
        except (ProcessLookupError, PermissionError):
            pass
        return False

    forwarded = FORWARDED if term_in is not None else (*FORWARDED, signal.SIGINT, signal.SIGQUIT)
    proxy = Proxy(
        term_in=term_in, term_out=term_out, remote=master,
        on_resize=lambda rows, cols: ptys.set_winsize(master, rows, cols),
        signals=(signal.SIGCHLD, *forwarded), on_signal=on_signal, copy_to=log_fd,
    )  # fmt: skip
    # Raw mode on the terminal we read, else on the one we write (as LXC does):
    # the container's pty already turned \n into \r\n.
    with RawTerminal(term_in if term_in is not None else term_out, flush_input=True):
        proxy.run()
    if not status:
        _, code = os.waitpid(pid, 0)
        status.append(code)
    return _exit_code(status[0])


# -- the attached process -------------------------------------------------------------------


class Prepared:
    """What the helper needs, computed before the fork: capabilities, environment, ids."""

    def __init__(self, target: Target, options: Options) -> None:
        import fcntl  # noqa: F401 - the attached process's TIOCSCTTY needs it loaded

        import runtime.userns.ids  # noqa: F401 - the helper's give_terminal needs it loaded

        self.drop = [] if "CAP" in options.elevated else _bounding_to_drop(target)
        self.env = _environment(target, options)
        self.uid = options.uid if options.uid is not None else target.uid
        self.gid = options.gid if options.gid is not None else target.gid
        self.cwd = _caller_cwd()
        #: What /proc/PID/cmdline and /proc/PID/environ show of the attached process
        #: until it execs (see _blank_host_memory); loads libc and ctypes while the
        #: host's files are there.
        self.title = linux.ProcessTitle(b"lxc-attach")
        self.traits = attach_keys.InitTraits(target.pid, options.personality)  # lxc.arch, -a, sched.core
        # lxc.seccomp.profile; `-e LSM` (and `-e`, `-s`) lift it, as LXC 5's lxc-attach does
        self.seccomp = None if "LSM" in options.elevated else attach_seccomp.loader(target)


def _fork_helper(target: Target, options: Options) -> tuple[str | None, int]:
    """(the cgroup2 directory the helper was created in or None, its pid; 0 in it).

    Created in the container's cgroup2 directory when there is one to join
    (CLONE_INTO_CGROUP, runtime.kernel.clone3): moving it there later, by a write
    to cgroup.procs, would wait for a kernel grace period (runtime.spawn.cgroup_join).
    """
    into = None if "CGROUP" in options.elevated else _cgroup2_dir(target)
    try:
        if into is not None:
            from runtime.kernel import clone3

            helper = clone3.fork_into_cgroup(into)
            if helper is not None:
                return into, helper
        return None, os.fork()
    except OSError as err:
        raise LxcError(f"Failed to create the attached process: {err.strerror}") from None


def _cgroup2_dir(target: Target) -> str | None:
    """The container's cgroup2 directory (the one of its cgroups with cgroup.controllers)."""
    for path in target.cgroups.values():
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            return path
    return None


def _helper(
    target: Target, options: Options, pidfd: int, joins: set[str], slave: int, report: int,
    terminals: list[int], prepared: Prepared, joined: str | None,
) -> None:  # fmt: skip
    """In the forked helper: enter the container, fork the attached process; never returns."""
    code = 1
    try:
        code = _enter_and_fork(target, options, pidfd, joins, slave, report, terminals, prepared, joined)
    except BaseException as err:  # noqa: BLE001 - nothing may return into the parent's code
        _say(target.name, str(err) or type(err).__name__)
    finally:
        os._exit(code)


def _say(name: str, message: str) -> None:
    try:
        os.write(2, f"lxc-attach: {name}: {message}\n".encode(errors="replace"))
    except OSError:
        pass


def _enter_and_fork(
    target: Target, options: Options, pidfd: int, joins: set[str], slave: int, report: int,
    terminals: list[int], prepared: Prepared, joined: str | None,
) -> int:  # fmt: skip
    """Everything but the pid namespace, then the attached process.

    The helper stays in our pid namespace: no process of the container sees it.
    The attached process it forks at the end is the first thing the container
    sees, and by then the helper has joined the cgroups and every other
    namespace (the mount namespace sets root and cwd to the container's), closed
    every fd but the command's stdio, dropped the capabilities, switched ids,
    blanked its command line and environment and made itself non-dumpable (which
    the fork inherits and exec ends).
    """
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    if "CGROUP" not in options.elevated:
        _join_cgroups(target, joined)
    flags = 0
    for name in joins - {"pid"}:
        flags |= CLONE_FLAGS[name]
    if slave >= 0 and (prepared.uid or "user" in joins):  # from outside: host ids
        from runtime.userns.ids import give_terminal  # loaded by Prepared: a sys.modules lookup

        give_terminal(slave, target.pid, prepared.uid)
    if flags:  # one call; the kernel joins the user namespace first
        try:
            linux.setns(pidfd, flags)
        except OSError as err:
            _say(target.name, f"Failed to attach to the namespaces of {target.pid}: {err.strerror}")
            return 1
    # -R without the mount namespace: a private copy of ours, with the /sys of the
    # joined network namespace; /proc needs the pid namespace to be the mounter's
    # own, so the attached process mounts it (and switches ids only then).
    remount_proc = options.remount and "mnt" not in joins and "pid" in joins
    if options.remount and "mnt" not in joins:
        _private_mounts()
        if "net" in joins:
            _remount("/sys", "sysfs")
    if "mnt" in joins:
        try:
            os.chdir(prepared.cwd or "/")
        except OSError:
            os.chdir("/")
    uid, gid = prepared.uid, prepared.gid
    argv = options.argv or [_user_shell(uid)]
    _close_all_but({0, 1, 2, slave, report, pidfd})
    _blank_host_memory(prepared.title)
    for cap in prepared.drop:
        try:
            linux.prctl(linux.PR_CAPBSET_DROP, cap)
        except OSError:
            pass  # a capability this kernel does not know
    if "pid" in joins:  # for our children only: the attached process
        try:
            linux.setns(pidfd, linux.CLONE_NEWPID)
        except OSError as err:
            _say(target.name, f"Failed to attach to the pid namespace of {target.pid}: {err.strerror}")
            return 1
    os.close(pidfd)
    prepared.traits.apply()  # the init's personality and core-scheduling cookie, while root
    if not attach_seccomp.load(target, prepared.seccomp):  # while root, as LXC
        return 1
    ids = (uid, gid, target.no_new_privs)
    if not remount_proc and not _switch_ids(target.name, *ids):
        return 1
    linux.prctl(linux.PR_SET_DUMPABLE, 0)  # again: a change of ids or user namespace resets it
    try:
        pid = os.fork()
    except OSError as err:
        _say(target.name, f"Failed to create the attached process: {err.strerror}")
        return 1
    if pid == 0:
        late_ids = ids if remount_proc else None
        _attached(target.name, report, slave, terminals, argv, prepared.env, late_ids)  # never returns
    os.write(report, b"%d" % pid)
    return 0


def _attached(
    name: str, report: int, slave: int, terminals: list[int], argv: list[str], env: dict[str, str],
    late_ids: tuple[int, int, bool] | None,
) -> None:  # fmt: skip
    """The attached process, visible in the container: as little as possible before exec.

    `late_ids`: -R with the pid namespace (see _enter_and_fork): /proc first, then ids.
    """
    code = 1
    try:
        os.close(report)
        if late_ids is not None:
            _remount("/proc", "proc")
            if not _switch_ids(name, *late_ids):
                return
            linux.prctl(linux.PR_SET_DUMPABLE, 0)
        if slave >= 0:
            import fcntl  # loaded before the fork: a lookup in sys.modules

            os.setsid()
            try:
                fcntl.ioctl(slave, TIOCSCTTY, 0)
            except OSError:
                pass
            for fd in terminals:
                os.dup2(slave, fd)
            os.close(slave)
        try:
            _exec(argv, env)
        except OSError as err:
            _say(name, f'Failed to exec "{argv[0]}": {err.strerror}')
            code = 127 if err.errno in (errno.ENOENT, errno.ENOTDIR) else 126
    except BaseException as err:  # noqa: BLE001 - nothing may return into the helper's code
        _say(name, str(err) or type(err).__name__)
    finally:
        os._exit(code)


def _switch_ids(name: str, uid: int, gid: int, no_new_privs: bool) -> bool:
    """The attached process's ids (and lxc.no_new_privs); False (said) when refused."""
    try:
        os.setgroups([])
    except OSError:
        pass  # not root here, or a user namespace that denies setgroups
    try:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as err:
        _say(name, f"Failed to switch to uid {uid}, gid {gid}: {err.strerror}")
        return False
    if no_new_privs:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    return True


def _close_all_but(keep: set[int]) -> None:
    """Close every fd except `keep` (negative entries ignored)."""
    low = 0
    for fd in sorted(fd for fd in keep if fd >= 0):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 2**31 - 1)


def _blank_host_memory(title: linux.ProcessTitle) -> None:
    """Point /proc/PID/cmdline at `lxc-attach` and /proc/PID/environ at nothing.

    Until it execs, the attached process is a copy of this Python process, whose
    command line names the lxcpath and whose environment is the caller's (even
    with --clear-env). Non-dumpable keeps both from a container without
    capabilities over the host's user namespace; a privileged container's root
    has CAP_SYS_PTRACE there, so they are moved out of sight.
    """
    try:
        title.apply()
    except OSError:
        pass  # no CONFIG_CHECKPOINT_RESTORE: non-dumpable is all there is


def _caller_cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _join_cgroups(target: Target, joined: str | None) -> None:
    """Join every cgroup of the container but `joined` (created in it already).

    A v1 hierarchy is joined through its `tasks` file: this single-threaded helper
    moving its own thread takes no kernel grace period there, where a write to
    `cgroup.procs` waits for one (runtime.spawn.cgroup_join); cgroup2 has no such
    file and takes cgroup.procs.
    """
    for path in target.cgroups.values():
        if path == joined:
            continue
        for filename in ("tasks", "cgroup.procs"):
            try:
                fd = os.open(os.path.join(path, filename), os.O_WRONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # cgroup2 (no tasks file), or a hierarchy that went away
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
            break


def _exec(argv: list[str], env: dict[str, str]) -> None:
    """execve, searching PATH of `env` for a bare name (no os.execvpe: it imports)."""
    program = argv[0]
    if "/" in program:
        os.execve(program, argv, env)
    first: OSError | None = None
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        try:
            os.execve(os.path.join(directory or ".", program), argv, env)
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.ENOTDIR) and first is None:
                first = err
    raise first or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def _bounding_to_drop(target: Target) -> list[int]:
    """The capability numbers lxc.cap.drop / lxc.cap.keep take out of the bounding set."""
    if not target.cap_drop and not target.cap_keep:
        return []
    from runtime.config.values import CAPABILITIES

    def number(name: str) -> int | None:
        if name.isdigit():
            return int(name)
        key = name.lower().removeprefix("cap_")
        return CAPABILITIES.index(key) if key in CAPABILITIES else None

    if target.cap_keep:
        keep = {number(c) for c in target.cap_keep if c.lower() != "none"}
        return [n for n in range(len(CAPABILITIES)) if n not in keep]
    return [n for n in (number(c) for c in target.cap_drop if c.lower() != "none") if n is not None]


def _environment(target: Target, options: Options) -> dict[str, str]:
    if options.clear_env:
        env = {name: os.environ[name] for name in options.keep_vars if name in os.environ}
        env.setdefault("PATH", DEFAULT_PATH)
    else:
        env = dict(os.environ)
    env["container"] = "lxc"
    for item in target.environment:
        name, sep, value = item.partition("=")
        if sep:  # a bare NAME keeps the value it has here (none after --clear-env)
            env[name] = value
    for item in options.set_vars:
        name, sep, value = item.partition("=")
        if name:
            env[name] = value if sep else env.get(name, "")
    return env


#: The most of the container's /etc/passwd read for a login shell.
PASSWD_MAX = 1 << 20


def _user_shell(uid: int) -> str:
    """The login shell of `uid` in the container's /etc/passwd, else /bin/sh.

    The file is the container's: a FIFO there must not hang the command, nor a link
    to /dev/zero make it read for ever. Only a regular file is read, at most
    PASSWD_MAX bytes, without blocking."""
    data = b""
    try:
        fd = os.open("/etc/passwd", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return "/bin/sh"
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            while len(data) < PASSWD_MAX and (chunk := os.read(fd, PASSWD_MAX - len(data))):
                data += chunk
    except OSError:
        data = b""
    finally:
        os.close(fd)
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2] == str(uid) and fields[6]:
            return fields[6]
    return "/bin/sh"


def _private_mounts() -> None:
    """-R: a private mount namespace (a copy of ours that gets no mounts back)."""
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)


def _remount(target: str, fstype: str) -> None:
    """-R: a fresh /proc or /sys, of the namespaces the caller is in."""
    try:
        linux.umount2(target, linux.MNT_DETACH)
    except OSError:
        pass
    linux.mount(fstype, target, fstype, linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
