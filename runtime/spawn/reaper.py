"""pid 1 of an application container: an lxc-init-like reaper that runs from memory.

The application runs as pid 2; this process stays pid 1 so that every orphan in
the container is reparented to it and reaped, and so that lxc-execute ends only
when the last process of the container has exited (daemons started by the app
keep it running, as with LXC). Its rules:
- SIGCHLD: reap everything that exited (waitpid(-1, WNOHANG) until nothing is
  left); the application's status is kept.
- INT, TERM, HUP, QUIT, USR1, USR2, PWR, WINCH, CONT, ALRM: forwarded to the
  application while it runs, every one of them. lxc-init keeps one pending signal
  and loses the rest; here the signals are blocked and taken with sigwaitinfo, so
  the kernel queues them and none is lost between two waits.
- SIGTERM or SIGPWR after the application has exited while other processes
  remain: SIGTERM to all of them, SIGKILL one second later (lxc-init's shutdown).
- When the application has exited and no child remains: its status is written to
  the status fd as one JSON line ({"exit_code": N|null, "signal": N|null}), and
  the reaper exits with the application's exit code, or 128+N for signal N (what
  lxc-execute returns).

The reaper itself killed (lxc-stop -k sends SIGKILL, which cannot be caught)
takes its pid namespace with it and writes no status line: the daemon then has
only the reaper's own wait status (killed by signal 9).

Without a pid namespace of its own (lxc.namespace.keep = pid) the reaper is a
child subreaper instead and "everything" means its descendants, found in /proc;
`kill(-1)` would reach the host.

In `ps` inside the container the reaper shows as `init`: comm is set with
PR_SET_NAME and the argv area (whose bounds /proc/self/stat gives) is
overwritten with "init" and shrunk with PR_SET_MM_ARG_END (or, without
CAP_SYS_RESOURCE, ended by a non-NUL byte, which makes the kernel read it as a
setproctitle title up to the first NUL), so /proc/1/cmdline is exactly `init\\0`,
as LXC's. Nothing here imports after pivot_root: the host's
Python files are gone by then.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time

from runtime import linux

FORWARDED = frozenset(
    {
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGPWR,
        signal.SIGWINCH,
        signal.SIGCONT,
        signal.SIGALRM,
    }
)
WAITED = frozenset({signal.SIGCHLD, *FORWARDED})
SHUTDOWN = frozenset({signal.SIGTERM, signal.SIGPWR})
KILL_GRACE = 1.0


def block_signals() -> None:
    """Block what the reaper waits for, before the app is forked, so none is missed."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)


def set_process_title(title: str = "init") -> None:
    """comm and cmdline become `title` (best effort: ps shows `init`, not python)."""
    try:
        linux.set_name(title)
    except OSError:
        pass
    try:
        with open("/proc/self/stat", "rb") as handle:
            stat = handle.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        # fields[0] is field 3 of proc(5); arg_start and arg_end are fields 48 and 49
        arg_start, arg_end = int(fields[45]), int(fields[46])
    except (OSError, ValueError, IndexError):
        return
    raw = title.encode() + b"\0"
    if arg_end - arg_start < len(raw):
        return
    ctypes.memset(arg_start, 0, arg_end - arg_start)
    ctypes.memmove(arg_start, raw, len(raw))
    try:
        linux.prctl(linux.PR_SET_MM, linux.PR_SET_MM_ARG_END, arg_start + len(raw))
    except OSError:
        # No CAP_SYS_RESOURCE. A non-NUL last byte makes the kernel treat the area
        # as a setproctitle() title and show it up to its first NUL: "init\0" still.
        if arg_end - arg_start > len(raw):
            ctypes.memset(arg_end - 1, ord("."), 1)


def status_record(status: int) -> tuple[int, dict[str, int | None]]:
    """(exit code as lxc-execute returns it, JSON record) of a wait status."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return 128 + number, {"exit_code": None, "signal": number}
    code = os.waitstatus_to_exitcode(status)
    return code, {"exit_code": code, "signal": None}


def _descendants(root: int) -> list[int]:
    """Every descendant of `root`, from /proc (used only without a pid namespace)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_all(sig: int, own_pid_ns: bool) -> None:
    """Signal every other process of the container."""
    if own_pid_ns:
        try:
            os.kill(-1, sig)  # everything in our pid namespace but ourselves
        except ProcessLookupError:
            pass
        return
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(app_pid: int, app_status: int | None) -> tuple[int | None, bool]:
    """Reap every exited child: (the app's status if known, whether no child is left)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return app_status, True
        if pid == 0:
            return app_status, False
        if pid == app_pid:
            app_status = status


def run(app_pid: int, status_fd: int | None, own_pid_ns: bool) -> int:
    """Reap until the app and every other process are gone; the exit code to use.

    The caller has blocked WAITED (block_signals) before forking the app.
    """
    app_status: int | None = None
    kill_at: float | None = None
    while True:
        if kill_at is None:
            info = signal.sigwaitinfo(WAITED)
        else:
            remaining = kill_at - time.monotonic()
            info = signal.sigtimedwait(WAITED, remaining) if remaining > 0 else None
            if info is None:
                kill_all(signal.SIGKILL, own_pid_ns)
                kill_at = None
                continue
        signo = info.si_signo
        if signo == signal.SIGCHLD:
            app_status, none_left = _reap(app_pid, app_status)
            if app_status is not None and none_left:
                break
        elif app_status is None:
            try:
                os.kill(app_pid, signo)
            except ProcessLookupError:
                pass
        elif signo in SHUTDOWN and kill_at is None:
            kill_all(signal.SIGTERM, own_pid_ns)
            kill_at = time.monotonic() + KILL_GRACE
    code, record = status_record(app_status)
    if status_fd is not None:
        try:
            os.write(status_fd, (json.dumps(record) + "\n").encode())
        except OSError:
            pass  # the exit code still tells the daemon
    return code
