"""Run one hook to its end with fork/exec and a deadline, without threads or trio.

Used where no event loop runs: the container child (its pre-mount, mount, autodev
and start hooks; everything here is imported before the first fork, and after
pivot_root nothing may be imported), and the `lxc-copy`/`lxc-destroy` commands.

The hook gets an empty stdin (a pipe already closed at the far end: no file of
either root is needed for it), stdout and stderr on one pipe (kept: the last
`plan.OUTPUT_TAIL` bytes, for the reason of a failure), a session of its own,
default signal dispositions and an empty signal mask, and no other fd.

It is done when the hook process exits: output still buffered in the pipe is
read, but a background process it left holding the pipe is not waited for. One
that has not exited by the deadline is killed with SIGKILL together with its
whole session.

`contain=True` (the container child's hooks) then kills what the hook left: its
session with SIGKILL, and, when the caller is the init of a pid namespace of its
own (nothing of the container runs yet, so every other process in it descends
from a hook), every other process of that namespace (kill(-1)), whichever
session it moved to; the orphans are reaped. Without a pid namespace of its own
only the session is killed (a descendant that called setsid escapes it, but then
lives in a pid namespace that is not the container's). The commands' clone and
destroy hooks (`runtime.hooks.offline`) run without it: a hook may start a daemon.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import time

from runtime.hooks import plan

_CHUNK = 65536


class Outcome:
    """How a run ended: `status` (a wait status; None if it could not start),
    `timed_out`, and the tail of its output."""

    __slots__ = ("status", "timed_out", "output")

    def __init__(self, status: int | None, timed_out: bool, output: bytes) -> None:
        self.status = status
        self.timed_out = timed_out
        self.output = output


def run(
    argv: list[str],
    env: dict[str, str],
    timeout: float,
    cwd: str | None = "/",
    *,
    contain: bool = False,
) -> Outcome:
    """Run `argv` to its exit (or kill it at `timeout` seconds); never raises OSError
    for the hook's own failures, which are in the Outcome. `contain`: kill every
    process the hook left behind (see the module's docstring)."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    os.close(in_w)
    try:
        pid = os.fork()
    except OSError as err:
        for fd in (out_r, out_w, in_r):
            os.close(fd)
        return Outcome(None, False, f"fork: {os.strerror(err.errno or 0)}".encode())
    if pid == 0:
        _exec_child(argv, env, cwd, in_r, out_w)
    os.close(out_w)
    os.close(in_r)
    try:
        return _collect(pid, out_r, timeout)
    finally:
        os.close(out_r)
        if contain:
            _kill_leftovers(pid)


def _exec_child(
    argv: list[str], env: dict[str, str], cwd: str | None, stdin: int, out: int
) -> None:
    """In the forked hook process: its own session, stdio, clean signals, exec."""
    try:
        os.setsid()
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 2**31 - 1)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if cwd is not None:
            os.chdir(cwd)
        os.execve(argv[0], argv, env)
    except OSError as err:
        try:
            os.write(2, f"cannot run {argv[0]}: {os.strerror(err.errno or 0)}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(127)


def _collect(pid: int, out_r: int, timeout: float) -> Outcome:
    deadline = time.monotonic() + timeout
    output = bytearray()
    pidfd = _pidfd(pid)
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    reading = True
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_session(pid)
                status = _wait(pid)
                _drain(out_r, output)
                return Outcome(status, True, bytes(output[-plan.OUTPUT_TAIL :]))
            # Without a pidfd (old kernel), poll in short steps and check with WNOHANG.
            step = left if pidfd is not None else min(left, 0.05)
            events = poller.poll(int(step * 1000) + 1)
            for fd, _ in events:
                if fd == out_r and reading:
                    reading = _read_some(out_r, output)
                    if not reading:
                        poller.unregister(out_r)
            exited = (
                _wait(pid, os.WNOHANG)
                if pidfd is None or any(fd == pidfd for fd, _ in events)
                else None
            )
            if exited is not None:
                _drain(out_r, output)
                return Outcome(exited, False, bytes(output[-plan.OUTPUT_TAIL :]))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


def _read_some(fd: int, output: bytearray) -> bool:
    """Read what is there; False on EOF."""
    try:
        data = os.read(fd, _CHUNK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not data:
        return False
    output += data
    if len(output) > 2 * plan.OUTPUT_TAIL:
        del output[: -plan.OUTPUT_TAIL]
    return True


def _drain(fd: int, output: bytearray) -> None:
    """What the exited hook left in the pipe, without waiting for its descendants."""
    os.set_blocking(fd, False)
    for _ in range(4 * plan.OUTPUT_TAIL // _CHUNK + 1):  # a background writer cannot hold us
        if not _read_some(fd, output):
            return
        try:
            if not select.select([fd], [], [], 0)[0]:
                return
        except OSError:
            return


def _wait(pid: int, flags: int = 0) -> int | None:
    while True:
        try:
            done, status = os.waitpid(pid, flags)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        return status if done else None


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError as err:
        if err.errno != errno.ESRCH:
            raise
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _kill_leftovers(pid: int) -> None:
    """SIGKILL what the (reaped) hook `pid` left: its session, and as a pid
    namespace's init every other process in it; reap the orphans we adopted."""
    try:
        # The group only: the hook is reaped, its pid may already be another's.
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass  # ESRCH: nothing left in it; EPERM: nothing of it we may signal
    own_namespace = os.getpid() == 1
    if own_namespace:
        try:
            os.kill(-1, signal.SIGKILL)  # all but ourselves, in our namespace only
        except OSError:
            pass  # ESRCH: nothing left
    # As the init, wait until every killed orphan is gone (none can survive
    # SIGKILL); otherwise only collect what has already ended.
    flags = 0 if own_namespace else os.WNOHANG
    while True:
        try:
            done, _ = os.waitpid(-1, flags)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if not done:
            return
