"""Run a command as root of a new user namespace with given maps (lxc-usernsexec).

The parent forks; the child unshares its user namespace and waits on a pipe;
the parent writes the maps (root: directly to /proc/PID/{gid,uid}_map; anyone
else: through the set-uid newuidmap/newgidmap, which check /etc/subuid and
/etc/subgid), then releases the child, which becomes uid/gid 0 there, drops
its supplementary groups and execs the command. The parent waits and exits
with the command's status (128+N when signal N killed it), as a shell would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from runtime.kernel import linux
from runtime.kernel.gated_fork import fork_gated
from runtime.userns.maps import IdMaps

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a command milliseconds at start-up
    from typing import NoReturn


class UsernsExecError(Exception):
    """What went wrong, as one line for the user."""


def _write_map(pid: int, kind: str, maps: IdMaps) -> None:
    name = "uid_map" if kind == "u" else "gid_map"
    if os.geteuid() == 0:
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, maps.text(kind).encode())
        finally:
            os.close(fd)
        return
    helper = "newuidmap" if kind == "u" else "newgidmap"
    args = [helper, str(pid)]
    for extent in maps.uid if kind == "u" else maps.gid:
        args += [str(extent.ns_id), str(extent.host_id), str(extent.count)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise OSError(0, f"{helper} failed: {reason}")


def run(maps: IdMaps, argv: list[str]) -> int:
    """Run argv mapped; its exit status (1 when it could not be started)."""
    pid, ready_r, go_w = fork_gated(lambda ready_w, go_r: _child(ready_w, go_r, argv))
    try:
        if os.read(ready_r, 1) != b"1":
            raise UsernsExecError("cannot create a user namespace")
        for kind in ("g", "u"):
            try:
                _write_map(pid, kind, maps)
            except OSError as err:
                name = "gid" if kind == "g" else "uid"
                raise UsernsExecError(
                    f"Failed to write the {name} map of the child: {err.strerror or err}"
                ) from None
        os.write(go_w, b"1")
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready_r)
        os.close(go_w)
    return _wait(pid)


def _wait(pid: int) -> int:
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _child(ready_w: int, go_r: int, argv: list[str]) -> NoReturn:
    code = 1
    try:
        try:
            linux.unshare(linux.CLONE_NEWUSER)
        except OSError as err:
            _say(f"Failed to unshare the user namespace: {err.strerror}")
            os._exit(1)
        os.write(ready_w, b"1")
        os.close(ready_w)
        if os.read(go_r, 1) != b"1":
            os._exit(1)  # the parent said why
        os.close(go_r)
        try:
            os.setresgid(0, 0, 0)
            try:
                os.setgroups([])
            except PermissionError:
                pass  # setgroups denied (a map written by a non-root caller's helper)
            os.setresuid(0, 0, 0)
        except OSError as err:
            _say(f"Failed to switch to uid 0 and gid 0 in the user namespace: {err.strerror}")
            os._exit(1)
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            _say(f'Failed to execute "{argv[0]}": {err.strerror}')
    except BaseException:  # noqa: BLE001 - never back into the caller's code
        pass
    os._exit(code)


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"lxc-usernsexec: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass
