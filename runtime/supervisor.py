"""One supervisor task per running container: the life-cycle state machine at work.

A supervisor owns one container from STARTING to STOPPED:

1. STARTING: parse the config, create the cgroups, ask the spawner for a child, and
   run the set-up handshake over a socketpair: the child reports the pid of the
   container's init ("pid"), waits while the supervisor puts that pid into the
   cgroups ("go"), then sets up and execs; EOF on the socket means the exec
   happened, an "error" message is the reason it did not.
2. RUNNING until the init exits: reported by the spawner, its parent, or, when
   that spawner died, reaped by this daemon through the init's pidfd (the daemon is
   a child subreaper and inherits the orphans; runtime.init_wait). A container
   re-adopted from an earlier daemon enters here (`adopt`, then `run(adopted=True)`).
3. The exit status is published, then STOPPING: whatever is left in the cgroups is
   killed (nothing escapes by forking), the cgroups are removed, STOPPED.
A failure while STARTING goes ABORTING -> STOPPING -> STOPPED with the same
clean-up, and the reason goes back to the command that asked for the start.

lxc.hook.* (runtime.hooks): pre-start before the cgroups; the child runs pre-mount,
mount, autodev and start (runtime.spawn.hooks_child) and asks for start-host with
one more handshake step; stop (with the namespaces the daemon held) after the
processes and network devices are gone, post-stop after the cgroups, both before
STOPPED and after a failed set-up too. Each hook is bounded (runtime.hooks.plan,
`TRIO_LXC_HOOK_TIMEOUT`), and the set-up deadline is HANDSHAKE_TIMEOUT plus that
bound for every hook that runs inside the handshake, so a slow but bounded hook
fails with its own reason, never with "did not finish its set-up in time".

Every transition goes through `runtime.lifecycle.Lifecycle`, is written to the
runtime record, and is published on the bus, in that order.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable

import trio

from runtime import attach_record, container_log, records
from runtime import lifecycle as lc
from runtime.console import manager as consoles
from runtime.errors import printable_line
from runtime.hooks.host import ContainerHooks, HookFailed
from runtime.init_wait import REPORT_GRACE, open_pidfd, wait_init_exit

log = logging.getLogger("trio-lxc.supervisor")

HANDSHAKE_TIMEOUT = 30.0
#: How long the forked child A gets to exit after the init reported its start.
A_EXIT_WAIT = 10.0
SIGNAL_MAX = 64  # SIGRTMAX on Linux: 128 + N above this is an exit code, not a signal
KILL_WAIT = 10.0


class StartFailed(Exception):
    """The start could not complete; the message is shown to the user."""


class DaemonLinks:
    """What a supervisor needs from the daemon: its lxcpath, spawner and bus
    (kept narrow so tests can see it)."""

    def __init__(
        self,
        *,
        lxcpath: str,
        spawner: object,
        publish_state: Callable[[str, str, str | None], None],
        publish_exit: Callable[[str, int | None, int | None], None],
        daemon_identity: dict[str, object],
    ) -> None:
        self.lxcpath = lxcpath
        self.spawner = spawner
        self.publish_state = publish_state
        self.publish_exit = publish_exit
        self.daemon_identity = daemon_identity


class StartSpec:
    """What to start: which config, which command, which stdio."""

    def __init__(
        self,
        *,
        name: str,
        mode: str,
        argv: list[str],
        config_path: str | None,
        config_text: str | None = None,
        defines: list[str] | None = None,
        stdio: tuple[int, int, int] | None = None,
    ) -> None:
        self.name = name
        self.mode = mode
        self.argv = argv
        self.config_path = config_path
        self.config_text = config_text
        self.defines = defines or []
        self.stdio = stdio


class Supervisor:
    """Runs one container through its life cycle (see the module docstring)."""

    def __init__(self, links: DaemonLinks, spec: StartSpec) -> None:
        self.links = links
        self.spec = spec
        self.name = spec.name
        self.lifecycle = lc.Lifecycle(spec.name)
        self.pid: int | None = None
        self.config: object | None = None
        self.cgroups: object | None = None
        #: runtime.net.network.ContainerNetwork once devices exist (None otherwise).
        self.net: object | None = None
        self.start_error: str | None = None
        self.exit_code: int | None = None
        self.exit_signal: int | None = None
        self.started = trio.Event()
        self.stopped = trio.Event()
        self.reboot_requested = False
        #: Reboots so far (lxc-stop -r, or the init's SIGHUP exit): lxc-exporter shows it.
        self.restarts = 0
        #: A pidfd of the init while it runs (runtime.init_wait).
        self._pidfd: int | None = None
        #: lxc.log.file/syslog handlers (runtime.container_log); lxc.namespace.share.*
        #: container names resolved to init pids (runtime.share_names).
        self.log_handlers: list[logging.Handler] = []
        self.shared_pids: dict[str, str] = {}
        self.seccomp_bpf: bytes | None = None  # lxc.seccomp.profile, compiled at start
        #: lxc.hook.* of the current start (runtime.hooks.host), once the config is read.
        self.lxc_hooks: ContainerHooks | None = None

    @property
    def state(self) -> str:
        return self.lifecycle.state

    # -- the life --------------------------------------------------------------
    async def run(self, *, adopted: bool = False) -> None:
        """Start, supervise and clean up; again after a reboot.

        A container re-adopted from an earlier daemon (`adopt`, then `adopted=True`)
        enters at supervise, from RUNNING, and has the same life from there on as
        one started here: a reboot starts it again, its exit is published.
        """
        try:
            while True:
                if not adopted:
                    self._reset()
                    try:
                        await self._start()
                    except StartFailed as err:
                        await self._abort(str(err))
                        return
                    except Exception as err:  # noqa: BLE001 - a bug must not wedge STARTING
                        log.exception("%s: start failed unexpectedly", self.name)
                        await self._abort(f"internal error: {err}")
                        return
                    finally:
                        self.started.set()
                adopted = False
                await self._supervise()
                if not self._should_restart():
                    return
                self.restarts += 1
                self.started = trio.Event()
                self.stopped = trio.Event()
        finally:
            self._close_pidfd()
            if self.lxc_hooks is not None:
                self.lxc_hooks.close()
            self.stopped.set()
            self._close_stdio()
            container_log.close_handlers(self.log_handlers)

    def adopt(self, state: str, pid: int, pidfd: int) -> None:
        """Take over a container an earlier daemon started (its init is `pid`, still
        alive: `pidfd` names it); `run(adopted=True)` then supervises it."""
        self.lifecycle.state = state
        self.pid = pid
        self._pidfd = pidfd
        if self.config is not None:  # its stop hooks get the namespaces of the live init
            self.lxc_hooks = self._new_lxc_hooks()
            self.lxc_hooks.init_started(pid)
        self.started.set()

    def _reset(self) -> None:
        self._close_pidfd()
        self.pid = None
        self.cgroups = None
        self.exit_code = self.exit_signal = None
        self.start_error = None
        if self.lxc_hooks is not None:
            self.lxc_hooks.close()
            self.lxc_hooks = None

    def _transition(self, state: str, reason: str | None = None) -> None:
        self.lifecycle.advance(state)
        if state == lc.STOPPED:
            consoles.close_for(self)  # clients of its terminals see the end
            records.remove_record(self.links.lxcpath, self.name)
        else:
            records.write_record(self.links.lxcpath, self.name, self._record())
        self.links.publish_state(self.name, state, reason)
        log.info("%s: %s", self.name, state)

    def _record(self) -> dict[str, object]:
        record: dict[str, object] = {
            "name": self.name,
            "state": self.state,
            "mode": self.spec.mode,
            "config_path": self.spec.config_path,
            # What a reboot after a re-adoption starts again (runtime.daemon.app.readopt).
            "argv": self.spec.argv,
            "defines": self.spec.defines,
            "pid": None,
            **{f"daemon_{k}": v for k, v in self.links.daemon_identity.items()},
        }
        if self.pid is not None:
            record.update(records.pid_identity(self.pid))
        if self.cgroups is not None:
            record["cgroups"] = self.cgroups.paths  # type: ignore[attr-defined]
            record["cgroup_limits"] = self.cgroups.limit_paths  # type: ignore[attr-defined]
        if self.net is not None:
            record["net"] = self.net.record()  # type: ignore[attr-defined]
        if self.config is not None:  # lxc-attach reads its settings here (runtime.attach_record)
            record["attach"] = attach_record.fields(self.config, self.seccomp_bpf)
        return record

    # -- starting --------------------------------------------------------------
    async def _start(self) -> None:
        self._transition(lc.STARTING)
        self.config = self._load_config()
        self.seccomp_bpf = self._compile_seccomp()  # lxc.seccomp.profile (runtime.seccomp)
        self._apply_daemon_keys()
        self._refuse_host_init()
        self.lxc_hooks = self._new_lxc_hooks()
        await self._run_lxc_hooks(self.lxc_hooks.pre_start)
        self.cgroups = self._create_cgroups()
        await consoles.open_for(self)  # console and tty ptys (runtime.console)
        _delegate_to_mapped_root(self)  # lxc.idmap: cgroups and ptys (runtime.userns)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sync = trio.socket.from_stdlib_socket(parent)
        try:
            stdio = self.spec.stdio or consoles.init_stdio(self) or _devnull_stdio()
            fds = [child.fileno(), *stdio]
            try:
                log.debug("%s: asking the spawner", self.name)
                forked = await self.links.spawner.spawn(self._spawn_request(), fds)  # type: ignore[attr-defined]
                log.debug("%s: spawned", self.name)
            except Exception as err:  # noqa: BLE001 - SpawnError and transport errors alike
                raise StartFailed(f"cannot fork the container: {err}") from None
            finally:
                child.close()
                if self.spec.stdio is None:
                    for fd in stdio:
                        os.close(fd)
            self._early_attach(forked)
            forked_pidfd = open_pidfd(forked)
            try:
                hooks = self.lxc_hooks.handshake_budget() if self.lxc_hooks is not None else 0.0
                budget = HANDSHAKE_TIMEOUT + hooks  # every hook run inside it may use its bound
                with trio.move_on_after(budget) as timeout:
                    await self._handshake(sync, forked)
                if timeout.cancelled_caught:
                    raise StartFailed("the container did not finish its set-up in time")
                if forked_pidfd is not None and forked != self.pid:
                    await self._wait_forked_gone(forked, forked_pidfd)
            finally:
                if forked_pidfd is not None:
                    os.close(forked_pidfd)
        finally:
            sync.close()
        self._transition(lc.RUNNING)

    async def _wait_forked_gone(self, forked: int, pidfd: int) -> None:
        """RUNNING only once the forked child A has exited, not merely closed its end of
        the sync socket (which it does on its way out, before the kernel re-parents the
        init). Until A is gone the init's parent is A, not the spawner: `lxc-start`
        would return with an init whose parent is about to vanish, and whoever looks
        at the process tree then (the tests, which kill "the init's parent" to play a
        spawner crash) meets A. A pidfd turns readable only after the exiting
        process's children were re-parented (to the spawner, a child subreaper)."""
        with trio.move_on_after(A_EXIT_WAIT):
            await trio.lowlevel.wait_readable(pidfd)
            return
        log.warning("%s: the forked child %d did not exit in %g s", self.name, forked, A_EXIT_WAIT)

    def _load_config(self) -> object:
        from runtime.config import model
        from runtime.config.parser import apply_define, parse_file, parse_text
        from runtime.config.unsupported import check as refuse_unsupported
        from runtime.errors import ConfigError
        from runtime.userns.maps import check_raw as check_idmaps

        try:
            if self.spec.config_path is not None:
                raw = parse_file(self.spec.config_path)
            else:
                raw = parse_text(self.spec.config_text or "", "<volatile container>")
            for define in self.spec.defines:
                apply_define(raw, define)
            for warning in refuse_unsupported(raw):  # seccomp notification, monitor and LSM keys
                log.warning("%s: %s", self.name, warning)
            check_idmaps(raw)  # a bad lxc.idmap set: one line, nothing made
            return model.from_raw(raw)
        except ConfigError as err:
            raise StartFailed(str(err)) from None

    def _compile_seccomp(self) -> bytes | None:
        from runtime.errors import ConfigError
        from runtime.seccomp.start import compile_for

        try:  # before anything is made: a bad profile fails the start, FILE:LINE
            return compile_for(self.config, self.links.lxcpath, self.name)
        except ConfigError as err:
            raise StartFailed(str(err)) from None

    def _apply_daemon_keys(self) -> None:
        """The keys the daemon applies itself: lxc.log.* (a log of this container's
        own) and lxc.namespace.share.* naming a container (its init pid)."""
        from runtime import share_names

        try:
            container_log.close_handlers(self.log_handlers)  # a reboot opens them again
            self.log_handlers = container_log.open_handlers(self.name, self.config)
            self.shared_pids = share_names.resolve(
                self.name, self.config, getattr(self.links, "running_init", None)
            )
        except (container_log.ContainerLogError, share_names.ShareError) as err:
            raise StartFailed(str(err)) from None

    def _refuse_host_init(self) -> None:
        """Never boot the host's own init on the host's root filesystem.

        A system container without lxc.rootfs.path runs on the host's root in a
        private mount namespace; its default pid 1, /sbin/init, would then be the
        host's init (systemd), which takes over the host's cgroup and mount trees.
        LXC lets that happen; we refuse and say what to do instead.
        """
        if self.spec.mode != "system" or getattr(self.config, "rootfs_path", None):
            return
        command = self.spec.argv[0] if self.spec.argv else "/sbin/init"
        if os.path.realpath(command) in _host_init_paths():
            raise StartFailed(
                "lxc.rootfs.path is not set, so pid 1 would be the host's own init "
                f"({command}) on the host's root filesystem; set lxc.rootfs.path or give "
                "a command (lxc-start -n NAME -- COMMAND)"
            )

    def _create_cgroups(self) -> object:
        from runtime.cgroups import ContainerCgroups

        try:
            return ContainerCgroups.create(self.name, self.config)
        except Exception as err:  # noqa: BLE001 - the reason goes to the user
            raise StartFailed(f"cannot set up the cgroups: {err}") from None

    def _early_attach(self, pid: int) -> None:
        """Put the forked child into the cgroups while it is still unsharing.

        The first process moved into a new cgroup costs the kernel an RCU grace
        period (about 14 ms here, in the cpu hierarchy); paid now, it overlaps with
        the child's own set-up instead of delaying "go". The container's init is
        attached again after it reports its pid, which is then cheap (and a no-op
        when it was forked after this attach and inherited the cgroups).
        """
        try:
            self.cgroups.attach(pid)  # type: ignore[attr-defined]
        except Exception as err:  # noqa: BLE001 - the real attach below reports failures
            log.debug("%s: early attach of %d: %s", self.name, pid, err)

    def _spawn_request(self) -> dict[str, object]:
        return {
            "name": self.name,
            "lxcpath": self.links.lxcpath,
            "mode": self.spec.mode,
            "argv": self.spec.argv,
            "config_path": self.spec.config_path,
            "config_text": self.spec.config_text,
            "defines": self.spec.defines,
            "namespace_share": self.shared_pids,
            "seccomp_bpf": attach_record.encode_bpf(self.seccomp_bpf),
            **consoles.request_fields(self),
            **(self.lxc_hooks.request_fields() if self.lxc_hooks is not None else {}),
        }

    async def _handshake(self, sync: trio.socket.SocketType, forked: int) -> None:
        first = await _receive(sync)
        if first is not None and first.get("step") == "userns":  # lxc.idmap: runtime.userns
            first = await _map_user(sync, forked, first, self.config)
        if first is None or first.get("step") != "pid":
            raise StartFailed(_reason(first, "the container child exited before it started"))
        self.pid = int(first["pid"])  # type: ignore[arg-type]
        # The init waits for "go": alive, so the pidfd is surely its own, and any exit
        # recorded for this pid number is an older process's.
        self._pidfd = open_pidfd(self.pid)
        self.links.spawner.take_exit(self.pid)  # type: ignore[attr-defined]
        log.debug("%s: init pid %d", self.name, self.pid)
        if self.lxc_hooks is not None:
            self.lxc_hooks.init_started(self.pid)
        try:
            self.cgroups.attach(self.pid)  # type: ignore[attr-defined]
        except Exception as err:  # noqa: BLE001
            raise StartFailed(f"cannot move the container into its cgroups: {err}") from None
        await self._setup_network(sync, first)
        await sync.send(json.dumps({"step": "go"}).encode())
        log.debug("%s: go", self.name)
        after = await _receive(sync)
        if after is not None and after.get("step") == "start-host" and self.lxc_hooks is not None:
            await self._run_lxc_hooks(self.lxc_hooks.start_host)  # the init waits for "exec"
            await sync.send(json.dumps({"step": "exec"}).encode())
            after = await _receive(sync)
        if after is not None:
            raise StartFailed(_reason(after, "unexpected message during set-up"))
        if self.lxc_hooks is not None and self.lxc_hooks.has("stop"):
            self.lxc_hooks.hold_namespaces(self.pid)  # its cgroup namespace is made after "go"

    async def _setup_network(self, sync: trio.socket.SocketType, first: dict[str, object]) -> None:
        """lxc.net.N devices, made while the init waits for "go" (runtime.net)."""
        from runtime.net.network import ContainerNetwork
        from runtime.net.plan import NetworkError

        self.net = net = ContainerNetwork(
            name=self.name, config=self.config, config_path=self.spec.config_path
        )
        try:
            await net.setup(sync, first)
        except NetworkError as err:
            raise StartFailed(str(err)) from None
        if net.entries:  # the host-side names reach the record before anything runs
            records.write_record(self.links.lxcpath, self.name, self._record())
        else:
            self.net = None

    async def _teardown_network(self) -> None:
        if self.net is not None:
            await self.net.teardown()  # type: ignore[attr-defined]
            self.net = None

    async def _abort(self, reason: str) -> None:
        log.warning("%s: start failed: %s", self.name, reason)
        self.start_error = reason
        self._transition(lc.ABORTING, reason)
        await self._kill_and_reap()
        await self._teardown_network()
        self._transition(lc.STOPPING)
        spawned = self.pid is not None  # LXC runs stop and post-stop after a failed set-up too
        if spawned:
            await self._stop_hooks("stop")
        self._destroy_cgroups()
        if spawned:
            await self._post_stop_hooks("stop")
        self._transition(lc.STOPPED)

    def _new_lxc_hooks(self) -> ContainerHooks:
        return ContainerHooks(name=self.name, config=self.config, config_path=self.spec.config_path)

    async def _run_lxc_hooks(self, step: Callable[[], Awaitable[None]]) -> None:
        """pre-start or start-host: a failure aborts the start, naming the hook."""
        try:
            await step()
        except HookFailed as err:
            raise StartFailed(str(err)) from None

    async def _stop_hooks(self, target: str) -> None:
        """lxc.hook.stop, told the namespaces the daemon held; then they are let go."""
        if self.lxc_hooks is not None:
            await self.lxc_hooks.stop(target)
            self.lxc_hooks.close()

    async def _post_stop_hooks(self, target: str) -> None:
        if self.lxc_hooks is not None:
            await self.lxc_hooks.post_stop(target)

    # -- running ---------------------------------------------------------------
    async def _supervise(self) -> None:
        assert self.pid is not None
        status = await self._wait_init_exit(self.pid)
        log.debug("%s: init exited (%s)", self.name, status)
        self._close_pidfd()
        self._note_exit(status)
        # Both None: nobody of ours reaped the init, so the status is unknown.
        self.links.publish_exit(self.name, self.exit_code, self.exit_signal)
        self._transition(lc.STOPPING)
        await self._kill_and_reap()
        await self._teardown_network()
        target = "reboot" if self._reboot_pending() else "stop"  # LXC_TARGET
        await self._stop_hooks(target)
        self._destroy_cgroups()
        await self._post_stop_hooks(target)
        self._transition(lc.STOPPED)

    async def _wait_init_exit(self, pid: int) -> int | None:
        """The spawner's report or, when it died, our own reaping (runtime.init_wait)."""
        if self._pidfd is None:
            self._pidfd = open_pidfd(pid)
        if self._pidfd is None:  # already gone and reaped: only a report can tell
            with trio.move_on_after(REPORT_GRACE):
                return await self.links.spawner.wait_exit(pid)  # type: ignore[attr-defined,no-any-return]
            return None
        return await wait_init_exit(pid, self._pidfd, self.links.spawner)  # type: ignore[arg-type]

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _note_exit(self, status: int | None) -> None:
        """Exit code and signal, from the init's wait status.

        An application container's init (trio-lxc-init) exits with the
        application's code, or 128+N when signal N killed it; it has no other
        channel (no fd of the host reaches pid 1). So 129..192 reads as signal
        1..64, as a shell reads `$?`: an application that exits 130 by itself is
        reported as signal 2. The exit status lxc-execute returns is the same
        either way.
        """
        if status is None:
            return
        if os.WIFSIGNALED(status):
            self.exit_signal = os.WTERMSIG(status)
        elif os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            if self.spec.mode == "application" and 128 < code <= 128 + SIGNAL_MAX:
                self.exit_signal = code - 128
            else:
                self.exit_code = code

    @property
    def exit_status(self) -> int | None:
        """The figure lxc-execute exits with and the bus shows: N, or 128+signal."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.exit_code

    def _reboot_pending(self) -> bool:
        rebooted = self.exit_signal == signal.SIGHUP and self.spec.mode == "system"
        return self.reboot_requested or rebooted

    def _should_restart(self) -> bool:
        rebooted = self.exit_signal == signal.SIGHUP and self.spec.mode == "system"
        restart = self.reboot_requested or rebooted
        self.reboot_requested = False
        return restart

    async def _kill_and_reap(self) -> None:
        """Kill whatever is left in the container's cgroups and wait until it is gone."""
        if self.cgroups is None:
            return
        if not self.cgroups.is_populated():  # type: ignore[attr-defined]
            return  # the usual case: the init was the last process
        try:
            self.cgroups.kill_all(signal.SIGKILL)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - clean-up continues; destroy reports leftovers
            log.exception("%s: killing the container's processes", self.name)
        with trio.move_on_after(KILL_WAIT):
            await self.cgroups.wait_empty()  # type: ignore[attr-defined]
        log.debug("%s: cgroups empty", self.name)

    def _destroy_cgroups(self) -> None:
        if self.cgroups is None:
            return
        try:
            self.cgroups.destroy()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            log.exception("%s: removing the cgroups", self.name)
        self.cgroups = None

    def _close_stdio(self) -> None:
        if self.spec.stdio is not None:
            for fd in self.spec.stdio:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.spec.stdio = None

    # -- requests from commands --------------------------------------------------
    def send_signal(self, sig: int) -> None:
        if self.pid is not None and self.state in (lc.RUNNING, lc.FROZEN, lc.THAWED):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def halt_signal(self) -> int:
        from runtime.stop_signal import halt_signal

        return halt_signal(self.config)

    def reboot_signal(self) -> int:
        from runtime.stop_signal import reboot_signal

        return reboot_signal(self.config)

    def kill(self) -> None:
        """lxc-stop -k: every process of the container, now."""
        if self.cgroups is not None:
            self.cgroups.kill_all(signal.SIGKILL)  # type: ignore[attr-defined]
            from runtime.freezer import after_kill

            after_kill(self)  # a frozen container: thaw so the SIGKILLs are delivered
        elif self.pid is not None:
            self.send_signal(signal.SIGKILL)


async def _receive(sock: trio.socket.SocketType) -> dict[str, object] | None:
    data = await sock.recv(65536)
    if not data:
        return None
    try:
        message = json.loads(data)
    except ValueError:
        return {"step": "error", "message": f"garbled set-up message {data[:60]!r}"}
    return message if isinstance(message, dict) else {"step": "error", "message": "bad message"}


def _delegate_to_mapped_root(supervisor: Supervisor) -> None:
    from runtime.userns import delegate

    try:
        delegate.prepare(supervisor)
    except delegate.DelegateFailed as err:
        raise StartFailed(str(err)) from None


async def _map_user(
    sync: trio.socket.SocketType, forked: int, message: dict[str, object], config: object
) -> dict[str, object] | None:
    """Write the maps of the child's new user namespace, then its next message."""
    from runtime.userns import apply, maps

    try:
        await apply.map_child(sync, forked, message, maps.from_config(config), config)
    except (apply.MapFailed, maps.MapError) as err:
        raise StartFailed(str(err)) from None
    return await _receive(sync)


def _reason(message: dict[str, object] | None, default: str) -> str:
    """The abort reason the child sent, as one bounded printable line: after the
    start hook the child may be the container's (no escape sequences to a terminal)."""
    if message is not None and message.get("step") == "error":
        return printable_line(str(message.get("message") or default))
    return default


def _host_init_paths() -> set[str]:
    paths = {os.path.realpath("/sbin/init")}
    try:
        paths.add(os.path.realpath(os.readlink("/proc/1/exe")))
    except OSError:
        pass
    return paths


def _devnull_stdio() -> tuple[int, int, int]:
    fd_in = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    fd_out = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    fd_err = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    return fd_in, fd_out, fd_err

