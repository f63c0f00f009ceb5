"""The container child's hooks: pre-mount, mount, autodev, start; and the start-host step.

Where each runs (as LXC 5 runs them; see `runtime.hooks.plan` for the command line
and the environment):
- pre-mount: in the container's namespaces (its own mount namespace, made private),
  before the rootfs is mounted;
- mount: with the rootfs and every lxc.mount.* mount in place at LXC_ROOTFS_MOUNT,
  before pivot_root (the host's root is still `/`);
- autodev: right after the mount hooks, when the container gets an autodev /dev,
  before its nodes are made (LXC 5's order: the hook may make them; ours follow and
  keep what exists, `runtime.spawn.devices.populate_autodev`);
- start: after pivot_root, inside the container (the command is a path in the
  rootfs and `/bin/sh` is the container's), with the bounding set already reduced,
  the container's session keyring joined and its seccomp filter loaded (the hook
  is the container's code: it and anything it starts run under the filter), and
  before the credentials change: just before the init's exec.
Then, only when the config has start-host hooks, the child sends
{"step": "start-host"} and waits for {"step": "exec"}: the daemon runs them on the
host meanwhile (LXC_PID is the init). Without such hooks no message is added.

While any of these hooks runs, the init is not dumpable (PR_SET_DUMPABLE 0, the
previous value restored after: a user namespace's root needs 1 for its own /proc
entries, `runtime.userns.enter`): a hook without CAP_SYS_PTRACE can neither
ptrace it, take its fds (pidfd_getfd) nor read its /proc/1/environ, mem or
map_files while it waits, still a process of the host. When a hook has exited (or
was killed at the bound), every process it left is killed too
(`blocking.run(contain=True)`): nothing a hook starts outlives it, so nothing
keeps the host's view of the pre-mount and mount hooks, or runs unconfined.

Each hook is a fork/exec (`runtime.hooks.blocking`, imported with this module:
nothing is imported after pivot_root) bounded by the daemon's hook timeout; the
daemon's set-up deadline grows by that bound for each hook that runs here
(`runtime.hooks.host.ContainerHooks.handshake_budget`). A failure is a SetupError
naming `lxc.hook.TYPE`, the command and the last line of its output.
"""

from __future__ import annotations

import socket

from runtime.hooks import blocking, plan
from runtime.kernel import linux
from runtime.spawn import handshake
from runtime.spawn.errors import SetupError
from runtime.spawn.request import ChildRequest

PR_GET_DUMPABLE = 3


def run(request: ChildRequest, kind: str) -> None:
    """Every `lxc.hook.KIND` of the config, in file order; SetupError at the first failure."""
    commands = plan.commands(request.config, kind)
    if not commands:
        return
    env = request.hook_env
    if env is None:  # a request not made by the daemon (tests): LXC's variables anyway
        env = plan.start_environment(name=request.name, config=request.config, config_path=None)
    timeout = request.hook_timeout or plan.DEFAULT_TIMEOUT
    version_1 = plan.version1(request.config)
    dumpable = linux.prctl(PR_GET_DUMPABLE)
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    try:
        for command in commands:
            argv, full_env = plan.invocation(
                command, kind, name=request.name, version_1=version_1, env=env
            )
            outcome = blocking.run(argv, full_env, timeout, contain=True)
            reason = plan.failure(
                kind, command, outcome.status, outcome.timed_out, timeout, outcome.output
            )
            if reason is not None:
                raise SetupError(None, reason)
    finally:
        linux.prctl(linux.PR_SET_DUMPABLE, dumpable)


def start_host(request: ChildRequest, sock: socket.socket) -> None:
    """With start-host hooks: ask the daemon to run them and wait until it says exec."""
    if not plan.has(request.config, "start-host"):
        return
    handshake.send_msg(sock, {"step": handshake.STEP_START_HOST})
    try:
        reply = handshake.recv_msg(sock)
    except handshake.ProtocolError:
        reply = None
    if reply is None or reply.get("step") != handshake.STEP_EXEC:
        # The daemon gave up (a start-host hook failed): it has the reason already.
        raise SetupError("lxc.hook.start-host", "the start was abandoned on the host")
