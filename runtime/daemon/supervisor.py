"""One supervisor task per running container: the life-cycle state machine at work.

A supervisor owns one container from STARTING to STOPPED:

1. STARTING: resolve the start once (runtime.spawn.start_spec: config, defines, pid 1),
   create the cgroups, ask the spawner for a child with that spec, and
   run the set-up handshake over a socketpair: the child reports the pid of the
   container's init ("pid"), waits while the supervisor puts that pid into the
   cgroups ("go"), then sets up and execs; EOF on the socket means the exec
   happened, an "error" message is the reason it did not.
2. RUNNING until the init exits: reported by the spawner, its parent, or, when
   that spawner died, reaped by this daemon through the init's pidfd (the daemon is
   a child subreaper and inherits the orphans; runtime.daemon.init_wait). A container
   re-adopted from an earlier daemon enters here (`Supervisor.adopted`, then
   `run(adopted=True)`).
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

Every transition goes through `runtime.daemon.lifecycle.Lifecycle`, is written to the
runtime record (runtime.client.records.ContainerRecord), and is published on the bus, in
that order.

The supervisor is the one owner of its container's state: the life cycle, the
terminals (`terminals`), the cgroups (`cgroups`), the network (`net`) and the
freezer (`freezer`, a collaborator given the supervisor's own transition). Other
modules read those public attributes or call its methods; nothing else changes them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from runtime.client import records
from runtime.client.errors import printable_line
from runtime.config.model import ContainerConfig
from runtime.daemon import attach_record, container_log
from runtime.daemon import lifecycle as lc
from runtime.daemon.cgroup_prime import EntryPlan, entry_plan, prime_cgroup_attach
from runtime.daemon.console import manager as consoles
from runtime.daemon.console.manager import ConsoleManager
from runtime.daemon.device import MovedInterfaces
from runtime.daemon.freezer import Freezer
from runtime.daemon.init_wait import REPORT_GRACE, open_pidfd, wait_init_exit
from runtime.hooks.host import ContainerHooks, HookFailed
from runtime.kernel import start_trace
from runtime.spawn import start_spec as ss
from runtime.spawn.messages import SpawnRequest

if TYPE_CHECKING:
    from runtime.cgroups import CgroupWatcher, ContainerCgroups
    from runtime.daemon.console.terminals import ContainerTerminals
    from runtime.net.network import ContainerNetwork

log = logging.getLogger("trio-lxc.supervisor")
#: The states in which the init runs and takes signals (a reboot, a halt).
INIT_RUNS = (lc.RUNNING, lc.FROZEN, lc.THAWED)

HANDSHAKE_TIMEOUT = 30.0
#: How long the forked child A gets to exit after the init reported its start.
A_EXIT_WAIT = 10.0
SIGNAL_MAX = 64  # SIGRTMAX on Linux: 128 + N above this is an exit code, not a signal
KILL_WAIT = 10.0


class StartFailed(Exception):
    """The start could not complete; the message is shown to the user."""


class SpecRefused(StartFailed):
    """The start's config does not load (or names no command): refused before
    STARTING, with no state event and nothing made, as LXC's client refuses it."""


class SpawnerPort(Protocol):
    """What a supervisor asks of the spawner (runtime.daemon.spawner_link.Spawner)."""

    async def spawn(self, request: SpawnRequest, fds: list[int]) -> int: ...

    def take_exit(self, pid: int) -> int | None: ...

    async def wait_exit(self, pid: int) -> int: ...

    def cancel_on_exit(self, pid: int, scope: trio.CancelScope) -> None: ...

    def forget_exit_scope(self, pid: int, scope: trio.CancelScope) -> None: ...


@attrs.frozen
class DaemonLinks:
    """What a supervisor needs from the daemon (kept narrow so tests can see it).

    consoles: the daemon's terminal registry (None: no terminals are allocated).
    running_init: a running container's init pid by name (lxc.namespace.share.*).
    """

    lxcpath: str
    spawner: SpawnerPort
    publish_state: Callable[[str, str, str | None], None]
    publish_exit: Callable[[str, int | None, int | None], None]
    daemon_pid: int
    daemon_start_time: int | None
    consoles: ConsoleManager | None = None
    running_init: Callable[[str], int | None] | None = None
    #: The daemon's one inotify instance for cgroup waits (None: each opens its own).
    cgroup_watcher: CgroupWatcher | None = None


class Supervisor:
    """Runs one container through its life cycle (see the module docstring)."""

    def __init__(
        self, links: DaemonLinks, args: ss.StartArgs, stdio: tuple[int, int, int] | None = None
    ) -> None:
        self.links = links
        #: What was asked; every start (and reboot) resolves it into `spec`.
        self.args = args
        self.spec: ss.StartSpec | None = None
        self.name = args.name
        self.lifecycle = lc.Lifecycle(args.name)
        self.pid: int | None = None
        self.cgroups: ContainerCgroups | None = None
        #: The container's network once devices exist (None otherwise).
        self.net: ContainerNetwork | None = None
        #: Its console and ttys while it runs (runtime.daemon.console).
        self.terminals: ContainerTerminals | None = None
        self.freezer = Freezer(self, self._transition, links.cgroup_watcher)
        self.moved_interfaces = MovedInterfaces()  # lxc-device add (runtime.daemon.device)
        self.start_error: str | None = None
        #: What the start's config warned about (the command prints them: `cp.Warned`).
        self.warnings: list[str] = []
        self.exit_code: int | None = None
        self.exit_signal: int | None = None
        self.started = trio.Event()
        self.stopped = trio.Event()
        self.reboot_requested = False
        #: lxc-stop -k, or the attached command went away: the container's life ends,
        #: even when the kill came while no process of it could be reached (between
        #: the runs of a reboot, before the new init is in its cgroups).
        self.kill_requested = False
        #: Set when a reboot's start is over (RUNNING, or failed) and when the
        #: container's life ends; replaced at each reboot (`reboot`, `reboot_failure`).
        self._rebooted = trio.Event()
        #: Reboots so far (lxc-stop -r, or the init's SIGHUP exit): lxc-exporter shows it.
        self.restarts = 0
        #: The command's own stdio for the init (lxc-start -F, lxc-execute), owned here.
        self._stdio = stdio
        #: A pidfd of the init while it runs (runtime.daemon.init_wait).
        self._pidfd: int | None = None
        #: lxc.log.file/syslog handlers (runtime.daemon.container_log).
        self.log_handlers: list[logging.Handler] = []
        #: lxc.hook.* of the current start (runtime.hooks.host), once the spec exists.
        self.lxc_hooks: ContainerHooks | None = None
        #: A re-adopted container whose config no longer loads keeps its lxc-attach settings.
        self._adopted_attach: dict[str, object] | None = None
        #: The steps of the current start (lxc-start -l TRACE; runtime.kernel.start_trace).
        self.trace = start_trace.Recorder(False)
        #: The steps of the run's end (traced execute or stop; runtime.daemon.exit_trace).
        self.end_trace = start_trace.Recorder(False)

    @property
    def state(self) -> str:
        return self.lifecycle.state

    @property
    def config(self) -> ss.ConfigModel | None:
        """The typed config of the current start (None before it is resolved)."""
        return self.spec.config if self.spec is not None else None

    @property
    def seccomp_bpf(self) -> bytes | None:
        return self.spec.seccomp_bpf if self.spec is not None else None

    # -- the life --------------------------------------------------------------
    async def run(self, *, adopted: bool = False) -> None:
        """Start, supervise and clean up; again after a reboot.

        A container re-adopted from an earlier daemon (`adopted`, then `adopted=True`)
        enters at supervise, from RUNNING, and has the same life from there on as
        one started here: a reboot starts it again, its exit is published.
        """
        try:
            while True:
                if not adopted:
                    self._reset()
                    try:
                        await self._start()
                    except SpecRefused as err:
                        log.warning("%s: start refused: %s", self.name, err)
                        self.start_error = str(err)
                        return
                    except StartFailed as err:
                        await self._abort(str(err))
                        return
                    except Exception as err:  # noqa: BLE001 - a bug must not wedge STARTING
                        log.exception("%s: start failed unexpectedly", self.name)
                        await self._abort(f"internal error: {err}")
                        return
                    finally:
                        self.started.set()
                        if self.restarts:
                            self._announce_reboot_over()
                adopted = False
                await self._supervise()
                if not self._should_restart():
                    return
                self.restarts += 1
                # `stopped` is the end of the container's life, not of one run: it is
                # set when this loop is left, and kept through a reboot. Replacing it
                # here left whoever waited on it (lxc-stop, lxc-start -F, stop-many)
                # waiting forever.
                self.started = trio.Event()
        finally:
            self._close_pidfd()
            consoles.drop_carried(self.links.consoles, self.name)  # no next run to take it
            if self.lxc_hooks is not None:
                self.lxc_hooks.close()
            self.stopped.set()
            self._rebooted.set()  # a reboot waiter sees the end (`reboot_failure`)
            self._close_stdio()
            container_log.close_handlers(self.log_handlers)

    @classmethod
    def adopted(
        cls, links: DaemonLinks, record: records.ContainerRecord, pid: int, pidfd: int
    ) -> Supervisor:
        """Take over a container an earlier daemon started (its init is `pid`, still
        alive: `pidfd` names it); `run(adopted=True)` then supervises it.

        Its start is resolved again from the record (the config file as it is now);
        if that fails it is still supervised, without the config's stop hooks and
        log, and lxc-attach keeps the settings the record has.
        """
        from runtime.net.network import ContainerNetwork

        args = ss.StartArgs(
            name=record.name,
            mode=record.mode if record.mode in ss.MODES else ss.SYSTEM,
            command=record.command,
            config_path=record.config_path,
            config_text=record.config_text,
            defines=record.defines,
        )
        supervisor = cls(links, args)
        supervisor.lifecycle = lc.Lifecycle(record.name, record.state)
        supervisor.pid = pid
        supervisor._pidfd = pidfd
        supervisor.cgroups = cgroups_from(record)
        supervisor._adopted_attach = record.attach
        bpf = attach_record.decode_bpf(record.to_json())  # lxc-attach still loads it
        try:
            supervisor.spec = ss.resolve_adopted(args, links.lxcpath, bpf)
        except Exception as err:  # noqa: BLE001 - the config may have changed; keep supervising
            log.warning("%s: its config no longer loads (%s): supervised without it", record.name, err)
        spec = supervisor.spec
        if spec is not None:
            try:  # lxc.log.*: the container's log goes on
                supervisor.log_handlers = container_log.open_handlers(record.name, spec.config)
            except container_log.ContainerLogError as err:
                log.warning("%s: %s", record.name, err)
            # its stop hooks get the namespaces of the live init
            supervisor.lxc_hooks = supervisor._new_lxc_hooks(spec)
            supervisor.lxc_hooks.init_started(pid)
        # a config that no longer loads: its devices are still given back, with the defaults
        config = supervisor.config if supervisor.config is not None else ContainerConfig()
        supervisor.net = ContainerNetwork.from_record(record.to_json(), config=config, pid=pid)
        supervisor.started.set()
        return supervisor

    def _reset(self) -> None:
        self._close_pidfd()
        self.pid = None
        self.spec = None
        self.cgroups = None
        self.exit_code = self.exit_signal = None
        self.start_error = None
        self._adopted_attach = None
        if self.lxc_hooks is not None:
            self.lxc_hooks.close()
            self.lxc_hooks = None

    def _transition(self, state: str, reason: str | None = None) -> None:
        self.lifecycle.advance(state)
        if state == lc.STOPPED:
            self._close_terminals()  # clients of its terminals see the end
            self.end_trace.mark("terminals closed")
            defined = os.path.isfile(os.path.join(self.links.lxcpath, self.name, "config"))
            records.remove_record(self.links.lxcpath, self.name, keep_spares=defined)
            self.end_trace.mark("record removed")
        else:
            records.write_record(self.links.lxcpath, self.name, self.record())
        self.links.publish_state(self.name, state, reason)
        if state in (lc.ABORTING, lc.STOPPING, lc.STOPPED):
            self.end_trace.mark(f"{state} published")
        log.info("%s: %s", self.name, state)

    def record(self) -> records.ContainerRecord:
        """The runtime record of the container as it is now (runtime.client.records)."""
        args = self.args
        spec = self.spec
        attach: dict[str, object] | None
        if spec is not None:  # lxc-attach reads its settings here (runtime.daemon.attach_record)
            attach = attach_record.fields(spec.config, spec.seccomp_bpf)
        else:
            attach = self._adopted_attach
        return records.ContainerRecord(
            name=self.name,
            state=self.state,
            mode=args.mode,
            # What a reboot after a re-adoption starts again (Supervisor.adopted).
            command=args.command,
            config_path=args.config_path,
            config_text=args.config_text,
            defines=args.defines,
            pid=self.pid,
            pid_start_time=records.pid_start_time(self.pid) if self.pid is not None else None,
            daemon_pid=self.links.daemon_pid,
            daemon_start_time=self.links.daemon_start_time,
            cgroups=self.cgroups.paths if self.cgroups is not None else None,
            cgroup_limits=self.cgroups.limit_paths if self.cgroups is not None else None,
            net=self.net.record() if self.net is not None else None,
            attach=attach,
        )

    # -- starting --------------------------------------------------------------
    async def _start(self) -> None:
        self.trace = trace = start_trace.Recorder(self.args.trace > 0, self.args.trace)
        self.end_trace = start_trace.Recorder(trace.enabled)
        self.spec = spec = self._resolve()  # before STARTING: SpecRefused publishes nothing
        trace.mark("start spec built")
        self._transition(lc.STARTING)
        trace.mark("STARTING published")
        self._open_log(spec.config)
        self.lxc_hooks = self._new_lxc_hooks(spec)
        await self._run_lxc_hooks(self.lxc_hooks.pre_start)
        trace.mark("pre-start hooks run")
        self.cgroups = cgroups = self._create_cgroups(spec)
        entry = entry_plan(cgroups, spec.config, spec.mode)  # the init joins them itself
        if entry.daemon_attaches:
            # After the mkdirs: the prime holds cgroup_mutex through its grace period.
            prime_cgroup_attach()  # the kernel's grace period, overlapped (runtime.cgroups.prime)
        trace.mark("cgroups made")
        await self._open_terminals(spec)
        trace.mark("terminals opened")
        _delegate_to_mapped_root(self)  # lxc.idmap: cgroups and ptys (runtime.userns)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sync = trio.socket.from_stdlib_socket(parent)
        try:
            # The command's own stdio (lxc-execute, lxc-start -F) comes first; the
            # console's three fresh fds are only made when they are the init's.
            stdio = self._stdio or self._terminal_stdio() or _devnull_stdio()
            fds = [child.fileno(), *stdio]
            try:
                log.debug("%s: asking the spawner", self.name)
                trace.mark("spawner asked")
                forked = await self.links.spawner.spawn(self._spawn_request(spec, entry), fds)
                trace.mark("spawned (reply read)")
                log.debug("%s: spawned", self.name)
            except Exception as err:  # noqa: BLE001 - SpawnError and transport errors alike
                raise StartFailed(f"cannot fork the container: {err}") from None
            finally:
                child.close()
                if self._stdio is None:
                    for fd in stdio:
                        os.close(fd)
            forked_pidfd = open_pidfd(forked)
            try:
                hooks = self.lxc_hooks.handshake_budget()
                budget = HANDSHAKE_TIMEOUT + hooks  # every hook run inside it may use its bound
                with trio.move_on_after(budget) as timeout:
                    try:
                        await self._handshake(sync, forked, spec, cgroups)
                    except (ConnectionResetError, BrokenPipeError):
                        # The child died mid-set-up (killed: lxc-stop -k, the attached
                        # command gone): a failed start, as when it closes the socket.
                        raise StartFailed("the container child exited before it started") from None
                if timeout.cancelled_caught:
                    raise StartFailed("the container did not finish its set-up in time")
                if forked_pidfd is not None and forked != self.pid:
                    await self._wait_forked_gone(forked, forked_pidfd)
                    trace.mark("forked child gone")
            finally:
                if forked_pidfd is not None:
                    os.close(forked_pidfd)
        finally:
            sync.close()
        self._transition(lc.RUNNING)
        trace.mark("RUNNING published")

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

    def _resolve(self) -> ss.StartSpec:
        """The start spec, resolved once for this start (runtime.spawn.start_spec)."""
        self.warnings = []

        def warn(warning: str) -> None:
            log.warning("%s: %s", self.name, warning)
            self.warnings.append(warning)

        try:
            return ss.resolve(self.args, self.links.lxcpath, running_init=self.links.running_init, warn=warn)
        except ss.StartRefused as err:
            raise SpecRefused(str(err)) from None

    def _open_log(self, config: ContainerConfig) -> None:
        """lxc.log.*: a log of this container's own (runtime.daemon.container_log)."""
        try:
            container_log.close_handlers(self.log_handlers)  # a reboot opens them again
            self.log_handlers = container_log.open_handlers(self.name, config)
        except container_log.ContainerLogError as err:
            raise StartFailed(str(err)) from None

    def _create_cgroups(self, spec: ss.StartSpec) -> ContainerCgroups:
        from runtime.cgroups import ContainerCgroups

        try:
            return ContainerCgroups.create(self.name, spec.config)
        except Exception as err:  # noqa: BLE001 - the reason goes to the user
            raise StartFailed(f"cannot set up the cgroups: {err}") from None

    async def _open_terminals(self, spec: ss.StartSpec) -> None:
        """The console and tty ptys (runtime.daemon.console)."""
        try:
            self.terminals = await consoles.open_terminals(
                self.links.consoles, self.name, spec.config, own_stdio=self._stdio is not None
            )
        except consoles.ConsoleError as err:
            raise StartFailed(str(err)) from None

    def _close_terminals(self) -> None:
        terminals, self.terminals = self.terminals, None
        if terminals is not None:
            # lxc-start -F on a terminal stays the console through a reboot (LXC's does).
            keep = self._reboot_pending() and not self.kill_requested
            consoles.close_terminals(self.links.consoles, self.name, terminals, keep_foreground=keep)

    def _spawn_request(self, spec: ss.StartSpec, entry: EntryPlan) -> SpawnRequest:
        terminals = self.terminals
        hooks = self.lxc_hooks.request_fields() if self.lxc_hooks is not None else {}
        hook_env = hooks.get("hook_env")
        hook_timeout = hooks.get("hook_timeout")
        return SpawnRequest(
            spec=spec,
            console=terminals.console_path if terminals is not None else None,
            ttys=tuple(terminals.tty_paths) if terminals is not None else (),
            hook_env={str(k): str(v) for k, v in hook_env.items()} if isinstance(hook_env, dict) else None,
            hook_timeout=float(hook_timeout) if isinstance(hook_timeout, int | float) else None,
            trace=self.trace.enabled,
            cgroup_join=entry.join,
            cgroup_into=entry.into,
        )

    async def _handshake(
        self, sync: trio.socket.SocketType, forked: int, spec: ss.StartSpec, cgroups: ContainerCgroups
    ) -> None:
        first = await _receive(sync)
        if first is not None and first.get("step") == "userns":  # lxc.idmap: runtime.userns
            first = await _map_user(sync, forked, first, spec.config)
        if first is None or first.get("step") != "pid":
            raise StartFailed(_reason(first, "the container child exited before it started"))
        pid = first.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise StartFailed(f"garbled set-up message: pid {pid!r}")
        self.pid = pid
        self.trace.mark("init pid received")
        # The init waits for "go": alive, so the pidfd is surely its own, and any exit
        # recorded for this pid number is an older process's.
        self._pidfd = open_pidfd(pid)
        self.links.spawner.take_exit(pid)
        log.debug("%s: init pid %d", self.name, pid)
        if self.lxc_hooks is not None:
            self.lxc_hooks.init_started(pid)
        joined = _joined(first)
        if cgroups.attached_by_daemon(joined):
            try:  # in a thread: it may wait for a grace period (runtime.cgroups.prime)
                await trio.to_thread.run_sync(cgroups.attach, pid, joined)
            except Exception as err:  # noqa: BLE001
                raise StartFailed(f"cannot move the container into its cgroups: {err}") from None
        self.trace.mark("cgroups attached")
        if self.kill_requested:  # a kill that found no process of this start yet
            raise StartFailed("killed while it started")
        await self._setup_network(sync, first, spec)
        self.trace.mark("network set up")
        # Marked before the send: trio yields after it, and the child may read "go"
        # (and mark it) before this task runs again.
        self.trace.mark("go sent")
        await sync.send(json.dumps({"step": "go"}).encode())
        log.debug("%s: go", self.name)
        after = await self._receive_traced(sync)
        if after is not None and after.get("step") == "start-host" and self.lxc_hooks is not None:
            await self._run_lxc_hooks(self.lxc_hooks.start_host)  # the init waits for "exec"
            await sync.send(json.dumps({"step": "exec"}).encode())
            after = await self._receive_traced(sync)
        self.trace.mark("set-up done (EOF: exec'd)" if after is None else "set-up failed")
        if after is not None:
            raise StartFailed(_reason(after, "unexpected message during set-up"))
        if self.lxc_hooks is not None and self.lxc_hooks.has("stop"):
            self.lxc_hooks.hold_namespaces(pid)  # its cgroup namespace is made after "go"

    async def _receive_traced(self, sync: trio.socket.SocketType) -> dict[str, object] | None:
        """The child's next step; its trace message first, when it sends one."""
        message = await _receive(sync)
        if message is not None and message.get("step") == start_trace.STEP_TRACE:
            self.trace.take(message)
            message = await _receive(sync)
        return message

    async def _setup_network(
        self, sync: trio.socket.SocketType, first: dict[str, object], spec: ss.StartSpec
    ) -> None:
        """lxc.net.N devices, made while the init waits for "go" (runtime.net)."""
        from runtime.net.network import ContainerNetwork
        from runtime.net.plan import NetworkError

        self.net = net = ContainerNetwork(
            name=self.name, config=spec.config, config_path=spec.config_path
        )
        try:
            await net.setup(sync, first)
        except NetworkError as err:
            raise StartFailed(str(err)) from None
        if net.entries:  # the host-side names reach the record before anything runs
            records.write_record(self.links.lxcpath, self.name, self.record())
        else:
            self.net = None

    async def _teardown_network(self) -> None:
        if self.net is not None:
            await self.net.teardown()
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

    def _new_lxc_hooks(self, spec: ss.StartSpec) -> ContainerHooks:
        return ContainerHooks(name=self.name, config=spec.config, config_path=spec.config_path)

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
        end = self.end_trace
        end.mark("exit status published")
        self._transition(lc.STOPPING)
        await self._kill_and_reap()
        end.mark("no process left")
        await self._teardown_network()
        end.mark("network torn down")
        target = "reboot" if self._reboot_pending() else "stop"  # LXC_TARGET
        await self._stop_hooks(target)
        end.mark("stop hooks done")
        self._destroy_cgroups()
        end.mark("cgroups removed")
        await self._post_stop_hooks(target)
        end.mark("post-stop hooks done")
        self._transition(lc.STOPPED)

    async def _wait_init_exit(self, pid: int) -> int | None:
        """The spawner's report or, when it died, our own reaping (runtime.daemon.init_wait)."""
        if self._pidfd is None:
            self._pidfd = open_pidfd(pid)
        if self._pidfd is None:  # already gone and reaped: only a report can tell
            with trio.move_on_after(REPORT_GRACE):
                return await self.links.spawner.wait_exit(pid)
            return None
        return await wait_init_exit(pid, self._pidfd, self.links.spawner, self.end_trace)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _note_exit(self, status: int | None) -> None:
        """Exit code and signal, from the init's wait status (`exit_figures`)."""
        self.exit_code, self.exit_signal = exit_figures(status, self.args.mode)

    @property
    def exit_status(self) -> int | None:
        """The figure lxc-execute exits with and the bus shows: N, or 128+signal."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.exit_code

    def _reboot_pending(self) -> bool:
        rebooted = self.exit_signal == signal.SIGHUP and self.args.mode == ss.SYSTEM
        return self.reboot_requested or rebooted

    def _should_restart(self) -> bool:
        rebooted = self.exit_signal == signal.SIGHUP and self.args.mode == ss.SYSTEM
        restart = (self.reboot_requested or rebooted) and not self.kill_requested
        self.reboot_requested = False
        return restart

    def _announce_reboot_over(self) -> None:
        done, self._rebooted = self._rebooted, trio.Event()
        done.set()

    def reboot_failure(self, done: trio.Event, timeout: float) -> str | None:
        """After `reboot` and a wait on the event it returned: None once the container
        runs again, else why not (it did not restart within `timeout` seconds, its new
        start failed, or it stopped). A reboot the init has not acted on by then (it
        still runs) is called off, so its own exit later stops the container."""
        if not done.is_set():
            if self.state in INIT_RUNS:
                self.reboot_requested = False
            return f"{self.name} did not reboot within {timeout:g} s"
        if self.start_error is not None:  # the new run's start failed (it is STOPPED now)
            return f"{self.name} did not start again: {self.start_error}"
        if self.stopped.is_set():
            return f"{self.name} stopped instead of rebooting"
        return None

    async def _kill_and_reap(self) -> None:
        """Kill whatever is left in the container's cgroups and wait until it is gone."""
        if self.cgroups is None:
            return
        if not self.cgroups.is_populated():
            return  # the usual case: the init was the last process
        try:
            self.cgroups.kill_all(signal.SIGKILL)
        except Exception:  # noqa: BLE001 - clean-up continues; destroy reports leftovers
            log.exception("%s: killing the container's processes", self.name)
        with trio.move_on_after(KILL_WAIT):
            await self.cgroups.wait_empty(watcher=self.links.cgroup_watcher)
        log.debug("%s: cgroups empty", self.name)

    def _destroy_cgroups(self) -> None:
        if self.cgroups is None:
            return
        try:
            self.cgroups.destroy()
        except Exception:  # noqa: BLE001
            log.exception("%s: removing the cgroups", self.name)
        self.cgroups = None

    def _terminal_stdio(self) -> tuple[int, int, int] | None:
        """The console's three fds for the init's stdio, made for this spawn (closed after it)."""
        return self.terminals.init_stdio() if self.terminals is not None else None

    def _close_stdio(self) -> None:
        if self._stdio is not None:
            for fd in self._stdio:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._stdio = None

    # -- requests from commands --------------------------------------------------
    def send_signal(self, sig: int) -> None:
        if self.pid is not None and self.state in INIT_RUNS:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def reboot(self, sig: int | None = None) -> trio.Event:
        """lxc-stop -r: the init gets `sig` (else lxc.signal.reboot) and, once it has
        exited, the container starts again (unless a halt or a kill comes first).
        Returns the event set when that restart's start is over, or the life ends
        (`reboot_failure` reads it)."""
        self.reboot_requested = True
        self.send_signal(sig or self.reboot_signal())
        return self._rebooted

    def halt(self, sig: int | None = None) -> None:
        """lxc-stop: the init gets `sig` (else lxc.signal.halt); a reboot asked for
        earlier and not done (an init that ignored its signal) is called off: the
        latest request wins, so the exit that follows stops the container."""
        self.reboot_requested = False
        self.send_signal(sig or self.halt_signal())

    def halt_signal(self) -> int:
        from runtime.daemon.stop_signal import halt_signal

        return halt_signal(self.config)

    def reboot_signal(self) -> int:
        from runtime.daemon.stop_signal import reboot_signal

        return reboot_signal(self.config)

    def kill(self) -> None:
        """lxc-stop -k: every process of the container, now; a pending reboot is called
        off (the container stops)."""
        self.reboot_requested = False
        self.kill_requested = True
        if self.cgroups is not None:
            self.cgroups.kill_all(signal.SIGKILL)
            self.freezer.after_kill()  # a frozen container: thaw so the SIGKILLs are delivered
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


def _joined(pid_message: dict[str, object]) -> frozenset[str]:
    """The cgroup directories the init reports it is in already (runtime.spawn.cgroup_join).
    Sent before any code of the container exists: the child's word is ours."""
    joined = pid_message.get("joined")
    if not isinstance(joined, list):
        return frozenset()
    return frozenset(d for d in joined if isinstance(d, str))


def _delegate_to_mapped_root(supervisor: Supervisor) -> None:
    from runtime.userns import delegate

    try:
        delegate.prepare(supervisor)
    except delegate.DelegateFailed as err:
        raise StartFailed(str(err)) from None


async def _map_user(
    sync: trio.socket.SocketType, forked: int, message: dict[str, object], config: ContainerConfig
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


def _devnull_stdio() -> tuple[int, int, int]:
    fd_in = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    fd_out = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    fd_err = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    return fd_in, fd_out, fd_err



def exit_figures(status: int | None, mode: str) -> tuple[int | None, int | None]:
    """(exit code, signal) of an init's wait status; both None when it is unknown.

    An application container's init (trio-lxc-init) exits with the application's
    code, or 128+N when signal N killed it; it has no other channel (no fd of the
    host reaches pid 1). So 129..192 reads as signal 1..64, as a shell reads `$?`:
    an application that exits 130 by itself is reported as signal 2. The exit
    status lxc-execute returns is the same either way.
    """
    if status is None:
        return None, None
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if mode == ss.APPLICATION and 128 < code <= 128 + SIGNAL_MAX:
            return None, code - 128
        return code, None
    return None, None


def cgroups_from(record: records.ContainerRecord) -> ContainerCgroups | None:
    """The cgroups a record names (None if it names none, or they cannot be opened)."""
    if record.cgroups is None:
        return None
    from runtime.cgroups import ContainerCgroups

    try:
        return ContainerCgroups.from_paths(record.cgroups, record.cgroup_limits)
    except Exception:  # noqa: BLE001
        return None
