"""Run a command in a running container for the Python API: lxc-attach's own code,
in a process of its own.

`attach_wait`, `attach_run` and `attach` run `lxc-attach` (cli/lxc_attach.py and
cli/attach_exec.py, the command's whole path: namespaces, cgroups, capabilities,
seccomp, ids, environment) as a child process with the caller's choice of stdio.
Why a child and not a fork of the caller: attaching makes the attaching process a
child subreaper and installs signal handlers that forward to the attached process,
neither of which a library may do to its caller (and a trio program's threads make
forking the interpreter unsafe). The child passes SIGTERM, SIGHUP, SIGINT, SIGQUIT,
SIGUSR1 and SIGUSR2 on to the attached process and exits with its status (128+N for
a signal), so its pid stands for the attached process. When any of the stdio given
is a terminal, the command runs on a pty of the container's own, never on the
caller's terminal (a container's root could push keystrokes into it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TypedDict

from runtime.client.errors import LxcError

# python3-lxc's namespace flags are the kernel's CLONE_NEW* values.
from runtime.kernel.linux import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
)

_NAMESPACE_NAMES = (
    (CLONE_NEWNS, "MOUNT"), (CLONE_NEWCGROUP, "CGROUP"), (CLONE_NEWUTS, "UTSNAME"),
    (CLONE_NEWIPC, "IPC"), (CLONE_NEWUSER, "USER"), (CLONE_NEWPID, "PID"), (CLONE_NEWNET, "NETWORK"),
)  # fmt: skip

#: python3-lxc's environment policies.
LXC_ATTACH_KEEP_ENV = 0
LXC_ATTACH_CLEAR_ENV = 1

#: python3-lxc's attach flags (LXC's values); those lxc-attach has a switch for count.
LXC_ATTACH_MOVE_TO_CGROUP = 0x00000001
LXC_ATTACH_DROP_CAPABILITIES = 0x00000002
LXC_ATTACH_SET_PERSONALITY = 0x00000004
LXC_ATTACH_LSM_EXEC = 0x00000008
LXC_ATTACH_REMOUNT_PROC_SYS = 0x00010000
LXC_ATTACH_LSM_NOW = 0x00020000
LXC_ATTACH_DEFAULT = 0x0000FFFF

Stdio = int | object | None


class AttachOptions(TypedDict, total=False):
    """python3-lxc's attach options that lxc-attach has a switch for."""

    env: Mapping[str, str] | Sequence[str] | None
    env_policy: int
    extra_env_vars: Sequence[str]
    extra_keep_env: Sequence[str]
    uid: int | None
    gid: int | None
    namespaces: int
    attach_flags: int


class _RunCommand:
    """python3-lxc's `attach_run_command`: the payload is the command (a list, or a
    program name)."""

    def __repr__(self) -> str:
        return "attach_run_command"


class _RunShell:
    """python3-lxc's `attach_run_shell`: the user's shell in the container."""

    def __repr__(self) -> str:
        return "attach_run_shell"


attach_run_command = _RunCommand()
attach_run_shell = _RunShell()


def command_of(run: object, payload: object) -> list[str]:
    """The argv to run from python3-lxc's (run, payload) or this API's (cmd,):
    a list or a string, `attach_run_command` with its payload, `attach_run_shell`
    (an empty argv: lxc-attach runs the user's shell). A Python function cannot
    run in the container here (the attach runs in another process): LxcError."""
    if isinstance(run, _RunShell) or run is None:
        return []
    if isinstance(run, _RunCommand):
        run = payload
    if isinstance(run, str):
        return [run]
    if isinstance(run, (list, tuple)) and all(isinstance(arg, str) for arg in run):
        return list(run)
    if callable(run):
        raise LxcError(
            "attaching a Python function is not supported; give a command "
            "(a list of strings, or attach_run_command with one)"
        )
    raise LxcError(f"not a command: {run!r}")


def lxc_attach_argv(
    lxcpath: str,
    name: str,
    argv: list[str],
    *,
    env: Mapping[str, str] | Sequence[str] | None = None,
    env_policy: int = LXC_ATTACH_KEEP_ENV,
    extra_env_vars: Sequence[str] = (),
    extra_keep_env: Sequence[str] = (),
    uid: int | None = None,
    gid: int | None = None,
    namespaces: int = -1,
    attach_flags: int = LXC_ATTACH_DEFAULT,
) -> list[str]:
    """The lxc-attach command line for these options (python3-lxc's names)."""
    args = ["-P", lxcpath, "-n", name]
    if env_policy == LXC_ATTACH_CLEAR_ENV:
        args.append("--clear-env")
    elif env_policy != LXC_ATTACH_KEEP_ENV:
        raise LxcError(f"unknown env_policy {env_policy}")
    variables = list(extra_env_vars)
    if isinstance(env, Mapping):
        variables += [f"{key}={value}" for key, value in env.items()]
    elif env is not None:
        variables += list(env)
    for item in variables:
        if "=" not in item:
            raise LxcError(f"invalid variable '{item}' (VAR=VALUE)")
        args += ["-v", item]
    for item in extra_keep_env:
        args += ["--keep-var", item]
    for flag, value in (("-u", uid), ("-g", gid)):
        if value is not None and value >= 0:
            args += [flag, str(int(value))]
    if namespaces not in (-1, 0):
        names = [label for bit, label in _NAMESPACE_NAMES if namespaces & bit]
        if not names or namespaces & ~sum(bit for bit, _ in _NAMESPACE_NAMES):
            raise LxcError(f"invalid namespaces {namespaces:#x} (CLONE_NEW* flags)")
        args += ["-s", "|".join(names)]
    elevated = []
    if not attach_flags & LXC_ATTACH_MOVE_TO_CGROUP:
        elevated.append("CGROUP")
    if not attach_flags & LXC_ATTACH_DROP_CAPABILITIES:
        elevated.append("CAP")
    if elevated:
        args.append("-e" + "|".join(elevated))
    if attach_flags & LXC_ATTACH_REMOUNT_PROC_SYS:
        args.append("-R")
    return [*_lxc_attach(), *args, "--", *argv]


def _lxc_attach() -> list[str]:
    """How to run lxc-attach: this interpreter, with this project importable, without
    putting anything in the environment the attached command inherits."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = "import sys; sys.path.insert(0, sys.argv.pop(1)); from cli.lxc_attach import main; main()"
    return [sys.executable, "-c", code, root]


def fd_of(stream: Stdio) -> int | None:
    """An fd number from an int, a file object (anything with fileno()) or None."""
    if stream is None:
        return None
    if isinstance(stream, int):
        return stream
    fileno = getattr(stream, "fileno", None)
    if fileno is None:
        raise LxcError(f"not a file: {stream!r}")
    number = fileno()
    if not isinstance(number, int):
        raise LxcError(f"not a file: {stream!r}")
    return number


def spawn(argv: list[str], stdin: Stdio, stdout: Stdio, stderr: Stdio) -> int:
    """Start lxc-attach with this stdio (None: the caller's); its pid, which the
    caller waits for (os.waitpid). posix_spawn, not subprocess: nothing here keeps
    a handle that could reap the pid before the caller does."""
    actions = []
    for target, stream in ((0, stdin), (1, stdout), (2, stderr)):
        fd = fd_of(stream)
        if fd is not None and fd != target:
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)


def exit_code(status: int) -> int:
    """A wait status as lxc-attach's exit code (128+N for a signal)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
