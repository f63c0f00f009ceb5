"""The container child: everything between the spawner's fork and the payload's exec.

`run_container(request)` is called in a process "A" just forked by the spawner
and never returns. The steps (messages: `runtime.spawn.handshake`):

1. A: the fds are arranged (stdio on 0-2, the sync socket kept close-on-exec,
   everything else of the spawner closed), signals reset; the namespaces are
   joined (lxc.namespace.share.*) and created (`runtime.spawn.namespaces`, all but
   cgroup). With a new pid (or time) namespace A forks the init "B", sends
   {"step": "pid", "pid": B} and exits 0 (the spawner, a child subreaper, adopts
   B); otherwise A is B and sends its own pid. When nothing but the pid
   namespace needs a fork, the spawner cloned A into it already (A is B, pid 1:
   `runtime.spawn.pidns_clone`). A failure here is sent as {"step": "error"}
   instead of the pid.
2. B waits for {"step": "go"}: the daemon uses the pause to move B into the
   container's cgroups and network devices into its namespace. EOF or anything
   else and B exits 1 without a word.
3. B sets itself up: the cgroup namespace (now rooted at the container's cgroup),
   the hostname (lxc.uts.name, default the container's name), `lo` up in a new
   network namespace, lxc.sysctl.* and lxc.proc.*, the mounts and /dev
   (`mounts`, `devices`, `cgroupfs`), pivot_root, then cwd, limits, credentials
   and capabilities (`process`); the child's lxc.hook.* at their moments
   (`hooks_child`: pre-mount, mount, autodev, start, the start-host step). Any
   failure: {"step": "error", "message": ...} naming the key, and exit 1.
4. System mode: exec argv as pid 1; the sync socket is close-on-exec, so EOF on
   it means "started". A failed exec is reported as an error. Application mode: B
   execs trio-lxc-init from a sealed memfd (`runtime.spawn.initexe`) with the
   application's argv and environment; the init forks the application (pid 2),
   closes its own copy of the sync socket, and only then lets pid 2 exec. So no
   code of the container runs while pid 1 is still a Python process of the host
   or holds a host fd, and after the exec pid 1 maps nothing of the host and
   holds only the stdio. EOF on the sync socket (held by pid 2 until its exec,
   close-on-exec) means both execs happened: started. A failed exec of the init
   is reported as an error; a failed exec of the application is printed on its
   stderr as lxc-execute does
   and gives status 255, after the start.

Nothing of the spawner's state is trusted: the child never returns into the
caller's code and leaves with os._exit on every path (no atexit handlers, no
buffered output of the parent flushed twice). The module imports everything the
child needs at import time; after pivot_root the host's Python files are out of
reach, so no import may happen later.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
from typing import TYPE_CHECKING, Any, NoReturn

from runtime.kernel import linux, start_trace
from runtime.net import handles as net_handles
from runtime.spawn import (
    cgroup_join,
    cgroupfs,
    devices,
    exec_gate,
    handshake,
    initexe,
    keyring,
    mounts,
    namespaces,
    personality,
    pidns_clone,
    process,
    schedcore,
    seccomp_load,
)
from runtime.spawn.errors import SetupError, describe_os_error
from runtime.spawn.hooks_child import run as run_hooks
from runtime.spawn.hooks_child import start_host as start_host_step
from runtime.spawn.namespaces import NamespacePlan
from runtime.spawn.request import ChildRequest
from runtime.userns import enter as userns_enter
from runtime.userns import reach as userns_reach

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

__all__ = ["ChildRequest", "run_container"]

#: The init's blanked command line and environment until its exec (`_blank_title`).
_title: linux.ProcessTitle | None = None
#: Application mode: the sealed copy of trio-lxc-init, made while the init waits
#: for "go" (`_prepare_init`); -1 until then.
_init_fd = -1


def run_container(request: ChildRequest) -> NoReturn:
    """Set up and start one container in this freshly forked process; never returns."""
    code = 1
    try:
        code = _start(request)
    except BaseException:  # noqa: BLE001 - nothing may escape into the spawner's code
        code = 1
    finally:
        os._exit(code)


def _report(sock: socket.socket, message: str) -> None:
    """Send the abort reason; the daemon may already be gone."""
    try:
        handshake.send_msg(sock, {"step": handshake.STEP_ERROR, "message": message})
    except OSError:
        pass


def _pid_message(pid: int, own_net: bool, joined: list[str]) -> dict[str, Any]:
    """{"step": "pid", "pid": N}, with "netns": true when the netns handles follow,
    and "joined": the cgroup directories the init is in already (cgroup_join)."""
    message: dict[str, Any] = {"step": handshake.STEP_PID, "pid": pid}
    if own_net:
        message["netns"] = True
    if joined:
        message["joined"] = joined
    return message


def _start(request: ChildRequest) -> int:
    start_trace.mark("forked")
    gc.disable()  # no collection may close a spawner object's fd under us
    process.reset_signals()
    try:
        moved = process.arrange_fds(request.stdio, [request.sync.detach()])
    except OSError:
        return 1  # no sync socket we could report on
    sock = socket.socket(fileno=moved[0])
    _blank_title()
    config = request.config
    if not request.argv:
        _report(sock, "no command to run")
        return 1
    if request.is_application and request.init_image is None:
        _report(sock, initexe.NOT_BUILT)
        return 1
    try:
        # Still the host's root: a user namespace's root could not reach the FIFO.
        gate = exec_gate.open_gate(request.lxcpath, request.name)  # OCI create (cli/oci.py)
        ns = namespaces.plan(config, request.mode)
        # pid 1 already: the spawner cloned us into the new pid namespace (pidns_clone)
        ns.pid_made = os.getpid() == 1
        joined = list(request.cgroup_joined)
        if not ns.needs_fork:  # this process is the init: its cgroups now (cgroup_join)
            cgroup_join.join(request.cgroup_join)
            joined += request.cgroup_join
        start_trace.mark("cgroups joined")
        namespaces.enter(ns, config, lambda: userns_enter.unshare_and_wait(sock, config))
        start_trace.mark("namespaces made")
    except SetupError as err:
        _report(sock, err.message)
        return 1
    # With a network namespace of its own, the netlink socket and namespace fd the
    # daemon configures the devices through follow the pid (runtime.net.handles).
    own_net = ns.has_own("net")
    if ns.needs_fork:
        pid = os.fork()
        if pid:
            try:
                handshake.send_msg(sock, _pid_message(pid, own_net, joined))
                if own_net:
                    net_handles.send_handles(sock)
            except OSError:
                return 1  # B then reads EOF instead of go and exits
            return 0
    else:
        pid = pidns_clone.host_pid() if ns.pid_made else os.getpid()
        handshake.send_msg(sock, _pid_message(pid, own_net, joined))
        if own_net:
            net_handles.send_handles(sock)
    start_trace.mark("pid reported")
    _prepare_init(request)
    try:
        go = handshake.recv_msg(sock)
    except (OSError, handshake.ProtocolError):
        return 1
    start_trace.mark("go received")
    if go is None or go.get("step") != handshake.STEP_GO:
        return 1
    try:
        return _setup_and_run(request, ns, sock, gate)
    except SetupError as err:
        _report(sock, err.message)
    except OSError as err:
        _report(sock, f"container setup failed: {err}")
    except Exception as err:  # noqa: BLE001 - reported, never raised into the spawner
        _report(sock, f"container setup failed: {type(err).__name__}: {err}")
    return 1


def _prepare_init(request: ChildRequest) -> None:
    """Copy trio-lxc-init into its sealed memfd before "go", not after: the daemon is
    then moving this process into its cgroups (a kernel grace period, see
    runtime.cgroups.prime), so the copy (60 KB with musl, 800 KB with glibc) costs
    the start nothing. A failure here is left for `_run_application` to meet again
    and report."""
    global _init_fd
    if request.is_application and request.init_image is not None:
        try:
            _init_fd = initexe.sealed_memfd(request.init_image)
        except OSError:
            pass


def prepare_title() -> None:
    """Build the blank title once, in the spawner before its first fork: every child
    inherits it at the same address with the same memory layout (a fork copies
    both), so a child only applies it. Building it (reading /proc/self/stat, the
    ctypes structure) in each child cost ~0.3 ms of every start."""
    global _title
    try:
        _title = linux.ProcessTitle(b"lxc-start")
    except OSError:
        _title = None  # the child tries again, and goes on without when it fails


def _blank_title() -> None:
    """/proc/PID/cmdline and environ of the init show nothing of the daemon's until
    the exec: the start hook (the container's code) runs while the init waits."""
    global _title
    try:
        if _title is None:
            _title = linux.ProcessTitle(b"lxc-start")  # kept: the kernel points into it
        _title.apply()
    except OSError:
        pass  # no CONFIG_CHECKPOINT_RESTORE: the kernel keeps showing them


def _setup_and_run(
    request: ChildRequest, ns: NamespacePlan, sock: socket.socket, gate: exec_gate.Gate | None
) -> int:
    config = request.config
    os.umask(0o022)
    # A new session, but no controlling terminal for the init: busybox init's console
    # shell (and a getty) must be able to make /dev/console theirs, as under LXC.
    process.new_session(take_terminal=False)
    modes = mounts.auto_modes(config.mount_auto)
    hierarchies = _cgroup_hierarchies(modes, ns)
    if "cgroup" in ns.new:
        namespaces.unshare_cgroup()
    if ns.has_own("uts"):
        hostname = config.uts_name or request.name
        try:
            socket.sethostname(hostname)
        except OSError as err:
            raise SetupError(
                "lxc.uts.name", f"cannot set hostname '{hostname}': {describe_os_error(err)}"
            ) from None
    if ns.has_own("net"):
        try:
            linux.interface_up("lo")
        except OSError as err:
            raise SetupError("lxc.net", f"cannot bring lo up: {describe_os_error(err)}") from None
    start_trace.mark("cgroup ns, hostname, lo")
    process.apply_sysctls(config)
    process.apply_proc(config)
    last_cap = process.last_capability()
    drop = process.capabilities_to_drop(config, last_cap)
    _setup_filesystem(
        request, ns, modes, hierarchies, keeps_sys_admin=process.CAP_SYS_ADMIN not in drop
    )
    start_trace.mark("filesystem done")
    process.change_directory(config)
    env = process.environment(config, request.environ)
    process.apply_prlimits(config)
    process.drop_bounding(drop, "lxc.cap.keep" if config.cap_keep else "lxc.cap.drop")
    # The keyring and the filter come before the start hook: that hook is the
    # container's code, and it and whatever it leaves must run confined already.
    keyring.new_session_keyring(config)  # lxc.keyring.session, before seccomp (as LXC)
    seccomp_load.apply(request)  # lxc.seccomp.profile, while root (as LXC)
    start_trace.mark("limits, capabilities, keyring, seccomp")
    run_hooks(request, "start")  # lxc.hook.start, inside (runtime.spawn.hooks_child)
    start_host_step(request, sock)
    process.switch_ids(config)
    process.drop_own(drop)
    process.set_no_new_privs(config)
    schedcore.create_cookie(config)  # lxc.sched.core
    personality.apply_arch(config)  # lxc.arch, last: it is what `uname -m` shows
    start_trace.mark("credentials")
    if request.is_application:
        start_trace.send(sock)  # the init's exec is next (runtime.kernel.start_trace)
        return _run_application(request, env, sock.fileno())
    if gate is not None:
        exec_gate.wait(gate, sock, request.argv, env, config)
    start_trace.send(sock)  # the exec of pid 1 is next
    try:
        process.exec_payload(request.argv, env)
    except OSError as err:
        raise SetupError(
            None, f'Failed to exec "{request.argv[0]}": {describe_os_error(err)}'
        ) from None
    raise AssertionError("exec returned")  # pragma: no cover


def _cgroup_hierarchies(modes: dict[str, str], ns: NamespacePlan) -> list[cgroupfs.Hierarchy]:
    """The host's cgroup hierarchies, read while our cgroup paths are still visible."""
    if "cgroup" not in modes or not ns.has_own("mnt"):
        return []
    if not cgroupfs.uses_hierarchies(modes["cgroup"], ns.isolated("cgroup")):
        return []  # nothing to mount (a cgroup namespace, no :force): nothing to read
    try:
        return cgroupfs.host_hierarchies()
    except OSError as err:
        raise SetupError(
            "lxc.mount.auto", f"cannot read the host's cgroups: {describe_os_error(err)}"
        ) from None


def _wants_mounts(config: ContainerConfig) -> bool:
    return bool(config.rootfs_path or config.mount_entry or config.mount_fstab or config.mount_auto)


def _setup_filesystem(
    request: ChildRequest,
    ns: NamespacePlan,
    modes: dict[str, str],
    hierarchies: list[cgroupfs.Hierarchy],
    keeps_sys_admin: bool,
) -> None:
    """Mounts, /dev and pivot_root (nothing without a mount namespace of our own)."""
    config = request.config
    if not ns.has_own("mnt"):
        if "mnt" not in ns.share and _wants_mounts(config):
            raise SetupError(
                "lxc.namespace.keep", "mounts and a rootfs need the container's own mount namespace"
            )
        run_hooks(request, "pre-mount")
        run_hooks(request, "mount")
        return
    mounts.make_private()
    run_hooks(request, "pre-mount")
    tree = userns_enter.take_idmapped_tree()  # lxc.rootfs.options idmap= (runtime.userns)
    if ns.isolated("user") and config.rootfs_path and tree is None:
        userns_reach.check_path(mounts.rootfs_directory(config.rootfs_path) or "")
    ctx = mounts.setup_root(config, request.host_root, tree, request.lxcpath)
    start_trace.mark("rootfs mounted")
    try:
        if "proc" in modes:
            mounts.mount_proc(ctx, modes["proc"], own_net=ns.has_own("net"))
        elif ns.has_own("pid") and (request.is_application or not ctx.own_root):
            # lxc-init's transient /proc: `ps` in the container shows the container
            mounts.mount_proc(ctx, "rw", own_net=False, key="/proc")
        if "sys" in modes:
            mounts.mount_sys(ctx, modes["sys"])
        start_trace.mark("proc, sys mounted")
        autodev = ctx.own_root and (config.autodev is None or config.autodev)
        autodev_hooks = autodev and bool(config.hook.get("autodev"))
        if autodev:  # with autodev hooks, the nodes come after them (as LXC)
            devices.mount_autodev(ctx, config, populate=not autodev_hooks)
            start_trace.mark("autodev")
        base_dir = os.path.join(request.lxcpath, request.name)
        mounts.mount_entries(ctx, mounts.read_fstab(config, base_dir), "lxc.mount.fstab")
        mounts.mount_entries(ctx, config.mount_entry, "lxc.mount.entry")
        start_trace.mark("fstab, mount entries")
        if "cgroup" in modes:
            cgroupfs.mount_cgroups(
                ctx, modes["cgroup"], hierarchies, ns.isolated("cgroup"), keeps_sys_admin
            )
            start_trace.mark("cgroup mounts")
        run_hooks(request, "mount")
        if autodev_hooks:
            run_hooks(request, "autodev")
            devices.populate_autodev(ctx)
        if ctx.own_root:
            devices.mount_devpts(ctx, config)
            if autodev:
                devices.mount_shm(ctx)
            else:
                devices.setup_ptmx(ctx)
            devices.bind_terminals(ctx, config, request.console, request.ttys)
            start_trace.mark("devpts, shm, terminals")
        mounts.apply_rootfs_options(ctx, config)
        mounts.pivot(ctx)
    finally:
        ctx.close()


def _run_application(request: ChildRequest, env: dict[str, str], sync: int) -> int:
    """Become trio-lxc-init, which forks the application; returns only on failure.

    The init forks the application itself (a fork of a small static program, not
    of this Python process: its page tables, its written pages, its teardown at
    the exec) and hands it the sync socket, so the daemon's EOF still means the
    application was exec'd; the application waits until the init has closed its
    own copy. The signals the init waits for are blocked before the exec and stay
    blocked across it.
    """
    assert request.init_image is not None  # checked before the handshake
    own_pid_ns = os.getpid() == 1
    init_fd = _init_fd if _init_fd >= 0 else initexe.sealed_memfd(request.init_image)
    signal.pthread_sigmask(signal.SIG_BLOCK, initexe.WAITED)
    if not own_pid_ns:
        # The application's orphans come to the init (the flag survives execve).
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    argv = list(request.argv)
    args = ["init", "--run", request.name, str(sync), str(len(argv)), *argv]
    args += [f"{key}={value}" for key, value in env.items()]
    os.set_inheritable(sync, True)
    try:
        os.execve(init_fd, args, {})
    except OSError as err:
        raise SetupError(
            None, f"cannot run the container's init: {describe_os_error(err)}"
        ) from None
    raise AssertionError("exec returned")  # pragma: no cover
