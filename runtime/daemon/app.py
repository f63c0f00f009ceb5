"""The runtime daemon of one lxcpath: control server, bus, spawner, supervisors.

One trio process per lxcpath, started on demand by the first command that needs
it (runtime.client.daemon_client). It serves the control socket (requests from the
commands), runs the monitor bus, keeps the link to the spawner, and runs one
supervisor task per container in its nursery. It re-adopts what a previous daemon
left running (runtime records + pid start times), and it exits by itself after a
quiet period with no container and no client.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import trio

from runtime.client import control_protocol as cp
from runtime.client import records
from runtime.client.control import ProtocolError
from runtime.client.lxcpath import list_names
from runtime.client.rundir import remove_run_dir, sweep_vanished
from runtime.client.status import process_start_time
from runtime.daemon import (
    container_requests,
    control_mux,
    ephemeral,
    exit_trace,
    freezer,
    stop_signal,
)
from runtime.daemon import lifecycle as lc
from runtime.daemon.conn_gate import ConnectionGate
from runtime.daemon.console import server as console_server
from runtime.daemon.console.manager import ConsoleManager
from runtime.daemon.control_async import close_all
from runtime.daemon.heap_trim import HeapTrimmer
from runtime.daemon.init_wait import open_pidfd
from runtime.daemon.peer_watch import GuardedStream
from runtime.daemon.spawner_link import Spawner
from runtime.daemon.supervisor import INIT_RUNS, DaemonLinks, Supervisor, cgroups_from, exit_figures
from runtime.daemon.unix_connect import max_backlog
from runtime.kernel import start_trace
from runtime.net.network import cleanup_dead_record
from runtime.spawn.start_spec import SYSTEM, StartArgs

if TYPE_CHECKING:
    from bus.server import BusServer
    from runtime.daemon.cgroup_watch import DaemonCgroupWatcher

log = logging.getLogger("trio-lxc.daemon")

#: File descriptors one control request may carry (runtime.client.control_protocol's table).
MAX_FDS = cp.MAX_FDS
#: How long a control connection may go without a complete request while none runs.
REQUEST_TIMEOUT = float(os.environ.get("TRIO_LXC_REQUEST_TIMEOUT", "30"))
#: Record states in which the init was running when the record was written.
LIVE_STATES = (lc.RUNNING, lc.FROZEN, lc.THAWED, lc.FREEZING)
#: At an idle exit: how long the spawner gets to exit before the run directory stays.
SPAWNER_EXIT_WAIT = 5.0
#: Idle time before exiting while the lxcpath does not exist (see `Daemon.wait_idle`).
LXCPATH_GONE_IDLE = 2.0


class Daemon:
    """The daemon's state and its request handlers."""

    def __init__(self, lxcpath: str, rundir: str, *, idle_timeout: float) -> None:
        self.lxcpath = lxcpath
        self.rundir = rundir
        self.idle_timeout = idle_timeout
        self.supervisors: dict[str, Supervisor] = {}
        self.connections = 0
        self.activity = trio.Event()
        self.bus: BusServer | None = None
        self.spawner: Spawner | None = None
        self.nursery: trio.Nursery | None = None
        #: Our start time: a record names its daemon by pid and start time (runtime.client.status).
        self.start_time = process_start_time(os.getpid())
        self.consoles = ConsoleManager()
        #: Bounds the control connections held and their buffers (runtime.daemon.conn_gate).
        self.gate = ConnectionGate()
        #: One inotify instance for every cgroup wait (runtime.daemon.cgroup_watch).
        self.cgroup_watcher: DaemonCgroupWatcher | None = None
        #: Frees the heap a burst of starts left behind (runtime.daemon.heap_trim).
        self.heap_trimmer = HeapTrimmer()

    # -- life -------------------------------------------------------------------
    async def run(self, ready: Callable[[], object] | None = None) -> None:
        """Serve until idle, then leave nothing behind (see `_leave`)."""
        from bus.server import BusServer
        from runtime.daemon.cgroup_watch import DaemonCgroupWatcher

        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.cgroup_watcher = DaemonCgroupWatcher(nursery)  # imported here: runtime.cgroups
            self.bus = BusServer(
                os.path.join(self.rundir, "bus.sock"),
                lxcpath=self.lxcpath,
                snapshot_source=self.snapshot,
            )
            self.spawner = Spawner(os.path.join(self.rundir, "spawner.sock"))
            await nursery.start(self.spawner.run)  # kept (restarted) for the daemon's life
            await nursery.start(self.consoles.run)
            await nursery.start(self.heap_trimmer.run)
            # Before the bus serves anyone: what happened while no daemon ran goes into
            # its history first, so `lxc-monitor --since` and `lxc-wait` see it.
            await self.readopt()
            await nursery.start(self.bus.serve)
            from runtime.daemon.lxcpath_watch import watch_lxcpath  # created/destroyed events

            await nursery.start(watch_lxcpath, self.lxcpath, self.bus, self.touch)
            listener = await self.listen()
            nursery.start_soon(self.serve_control, listener)
            if ready is not None:
                ready()
            log.info("daemon for %s ready", self.lxcpath)
            await self.wait_idle()
            log.info("idle, nothing running: exiting")
            # Stop taking requests first: a command that comes now starts our successor
            # (which waits for our lock: runtime.client.rundir.acquire_daemon_lock).
            _unlink(os.path.join(self.rundir, "control.sock"))
            nursery.cancel_scope.cancel()
        await self._leave()

    async def _leave(self) -> None:
        """Remove the run directory, unless something in it is still needed: records of
        containers (a successor re-adopts them), or a spawner that still has children."""
        _unlink(os.path.join(self.rundir, "control.sock"))
        if self.supervisors:
            return
        assert self.spawner is not None
        log.debug("waiting for the spawner to exit")
        if not await self.spawner.wait_gone(SPAWNER_EXIT_WAIT):
            log.info("the spawner still has children: keeping %s", self.rundir)
            return
        if remove_run_dir(self.rundir):
            log.info("removed %s", self.rundir)
        for directory in sweep_vanished():
            log.info("removed %s (its lxcpath no longer exists)", directory)

    async def wait_idle(self) -> None:
        """Return once nothing has happened for idle_timeout with nothing running.

        A daemon whose lxcpath does not exist (removed, or not made yet) has nothing
        to serve: it waits only LXCPATH_GONE_IDLE, so a test run or a script that
        removes its lxcpath leaves no daemon and no run directory behind for long (the
        next command starts a new one). The lxcpath watch wakes this wait when the
        lxcpath goes or appears, so the idle time follows it."""
        while True:
            self.activity = trio.Event()
            if self.busy():
                # Bus subscribers come and go without telling us: look again soon.
                with trio.move_on_after(1):
                    await self.activity.wait()
                continue
            timeout = self.idle_timeout
            if not os.path.isdir(self.lxcpath):
                timeout = min(timeout, LXCPATH_GONE_IDLE)
            with trio.move_on_after(timeout):
                await self.activity.wait()
                continue
            if not self.busy():
                return

    def busy(self) -> bool:
        return bool(self.supervisors) or self.connections > 0 or self._bus_subscribers() > 0

    def _bus_subscribers(self) -> int:
        count = getattr(self.bus, "subscriber_count", 0)
        return int(count() if callable(count) else count)

    def touch(self) -> None:
        self.activity.set()

    def snapshot(self) -> dict[str, str]:
        """Every container of the lxcpath with its state (defined ones default to STOPPED)."""
        states = {name: lc.STOPPED for name in list_names(self.lxcpath)}
        states.update({name: sup.state for name, sup in self.supervisors.items()})
        return states

    # -- bus publishing -----------------------------------------------------------
    def publish_state(self, name: str, state: str, reason: str | None = None) -> None:
        assert self.bus is not None
        self.bus.publish_state(name, state, reason)
        if state == lc.STOPPED:
            # `snapshot` says STOPPED for every defined container: the bus need not
            # keep it, and must not keep the name of one no config defines (each
            # start of a volatile or undefined name grew every subscriber's snapshot).
            self.bus.forget(name)

    def publish_exit(self, name: str, exit_code: int | None, sig: int | None) -> None:
        assert self.bus is not None
        self.bus.publish_exit(name, exit_code=exit_code, signal=sig)

    def links(self) -> DaemonLinks:
        assert self.spawner is not None
        return DaemonLinks(
            lxcpath=self.lxcpath,
            spawner=self.spawner,
            publish_state=self.publish_state,
            publish_exit=self.publish_exit,
            daemon_pid=os.getpid(),
            daemon_start_time=self.start_time,
            consoles=self.consoles,
            running_init=self.running_init,
            cgroup_watcher=self.cgroup_watcher,
        )

    def running_init(self, name: str) -> int | None:
        """The init pid of container `name` while it runs (lxc.namespace.share.* by name)."""
        supervisor = self.supervisors.get(name)
        if supervisor is None or supervisor.state not in LIVE_STATES:
            return None
        return supervisor.pid

    # -- supervisors ----------------------------------------------------------------
    async def launch(self, args: StartArgs, stdio: tuple[int, int, int] | None = None) -> Supervisor:
        """Start a supervisor for `args` and wait until the start succeeded or failed;
        `stdio` (the command's own) is the supervisor's from now on."""
        assert self.nursery is not None
        supervisor = Supervisor(self.links(), args, stdio)
        self.supervisors[args.name] = supervisor
        self.nursery.start_soon(self._run_supervisor, supervisor)
        await supervisor.started.wait()
        self.heap_trimmer.poke()
        return supervisor

    async def _run_supervisor(self, supervisor: Supervisor, adopted: bool = False) -> None:
        try:
            await supervisor.run(adopted=adopted)
        except Exception:
            log.exception("%s: supervisor failed", supervisor.name)
        finally:
            # lxc.ephemeral: destroyed while the name is still taken (a start is refused)
            await ephemeral.after_stop(self.lxcpath, supervisor)
            if self.supervisors.get(supervisor.name) is supervisor:
                del self.supervisors[supervisor.name]
                supervisor.end_trace.mark("name free")
            self.heap_trimmer.poke()
            self.touch()

    async def readopt(self) -> None:
        """Take over containers an earlier daemon left running; account for the dead.

        A live one gets a supervisor that enters its life at supervise (runtime.
        supervisor), so a reboot, the exit and the clean-up happen to it exactly as to
        a container this daemon started. A dead one is announced (exit, STOPPING,
        STOPPED) before it is cleaned up, and before the bus serves anyone.
        """
        assert self.spawner is not None
        unreadable: set[str] = set()
        for name, record in records.read_records(self.lxcpath).items():
            if isinstance(record, records.RecordError):
                log.error("%s: its runtime record is left alone: %s", name, record)
                unreadable.add(name)
                continue
            pid = record.pid
            pidfd = None
            if pid is not None and record.state in LIVE_STATES:
                start_time = record.pid_start_time
                pidfd = open_pidfd(pid, start_time if start_time is not None else -1)
            if pid is None or pidfd is None:
                await self._bury(record)
                continue
            self.spawner.take_exit(pid)  # one queued for this pid number was another process
            self.adopt(record, pid, pidfd)
        records.remove_leftovers(self.lxcpath, set(self.supervisors) | unreadable)

    def adopt(self, record: records.ContainerRecord, pid: int, pidfd: int) -> None:
        """Supervise a container whose init `pid` runs (re-adoption, a restore): the
        same supervisor as a start's, entering its life at RUNNING."""
        log.info("%s: re-adopting init pid %s", record.name, pid)
        supervisor = Supervisor.adopted(self.links(), record, pid, pidfd)
        self.supervisors[record.name] = supervisor
        assert self.nursery is not None
        self.nursery.start_soon(self._run_supervisor, supervisor, True)

    async def _bury(self, record: records.ContainerRecord) -> None:
        """A container that died while no daemon ran: publish its end, then clean up."""
        assert self.spawner is not None
        name = record.name
        log.info("%s: cleaning up after a container that died unsupervised", name)
        if record.state in LIVE_STATES:
            # Its status if the spawner (its parent) queued it; unknown otherwise.
            status = self.spawner.take_exit(record.pid) if record.pid is not None else None
            self.publish_exit(name, *exit_figures(status, record.mode or SYSTEM))
        self.publish_state(name, lc.STOPPING)
        cgroups = cgroups_from(record)
        if cgroups is not None:
            try:
                cgroups.kill_all(signal.SIGKILL)
                cgroups.destroy()
            except Exception:  # noqa: BLE001
                log.exception("%s: cleaning up cgroups", name)
        await cleanup_dead_record(record.to_json())  # host-side network devices
        records.remove_record(self.lxcpath, name)
        self.publish_state(name, lc.STOPPED)
        await ephemeral.after_burial(self.lxcpath, name, record)  # lxc.ephemeral = 1

    # -- control socket ---------------------------------------------------------------
    async def listen(self) -> trio.SocketListener:
        path = os.path.join(self.rundir, "control.sock")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(max_backlog())  # many API callers connect at once
        return trio.SocketListener(sock)

    async def serve_control(self, listener: trio.SocketListener) -> None:
        await trio.serve_listeners(self.handle_connection, [listener])

    async def handle_connection(self, stream: trio.SocketStream) -> None:
        """Serve one command's connection; nothing it sends can end the daemon.

        Credentials first (SO_PEERCRED: root or our uid), before anything is read;
        then every error of this connection is logged once, answered if possible,
        and ends this connection only.
        """
        try:
            allowed = _peer_allowed(stream.socket)
        except OSError as err:
            log.warning("control connection: cannot check the peer's credentials: %s", err)
            allowed = False
        if not allowed:
            await stream.aclose()
            return
        conn = ControlConnection(self, stream)
        if not self.gate.admit(conn.stream):  # at the bound, with every connection busy
            await conn.reply_quietly(cp.ErrorReply(error="too many connections: try again later", exit_code=1))
            await stream.aclose()
            return
        self.connections += 1
        self.touch()
        try:
            await conn.serve()
        except ProtocolError as err:
            log.warning("control connection refused: %s", err)
            await conn.reply_quietly(cp.ErrorReply(error=f"bad request: {err}", exit_code=1))
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as err:
            # ConnectionError: a command that exits with a reply unread resets the socket.
            log.debug("control connection ended: %s", err)
        except Exception as err:  # noqa: BLE001 - one bad request must not end the daemon
            # The daemon supervises every container of the lxcpath: a bug in serving
            # one command is logged and answered, never allowed to take it down.
            log.exception("control request failed")
            await conn.reply_quietly(cp.ErrorReply(error=f"internal error: {err}", exit_code=1))
        finally:
            self.gate.leave(conn.stream)
            conn.close_fds()
            self.connections -= 1
            self.touch()
            await stream.aclose()


class ControlConnection:
    """One command's connection: reads requests, checks them, runs them, writes replies.

    Every request is decoded and checked field by field first (runtime.
    control_protocol, which also says how many fds each op takes); a handler
    `op_<op>` gets the typed request. The fds that came with a request are closed
    when it has been handled, except those a handler takes over (a start's stdio,
    which the supervisor then owns). Every line sent for a request echoes its id.
    A connection that sends no complete request for REQUEST_TIMEOUT seconds while
    none is running is closed.
    """

    def __init__(self, daemon: Daemon, stream: trio.SocketStream) -> None:
        self.daemon = daemon
        #: A reply unread for REQUEST_TIMEOUT ends the connection (runtime.daemon.peer_watch).
        self.stream = GuardedStream(stream, max_fds=MAX_FDS, reply_timeout=REQUEST_TIMEOUT)
        #: The id of the request being handled (echoed on its replies).
        self.request_id: int | None = None
        #: Held for each line while requests share the connection (control_mux).
        self.sending: trio.Lock | None = None

    async def reply(self, message: cp.Reply | cp.ErrorReply | cp.Event, fds: Sequence[int] = ()) -> None:
        """A reply or event of the current request, with fds on its first byte."""
        data = cp.encode_reply(message, self.request_id)
        if self.sending is None:
            await self.stream.send(data, fds)
        else:
            async with self.sending:
                await self.stream.send(data, fds)

    async def reply_quietly(self, message: cp.ErrorReply) -> None:
        """A last reply to a command that may be gone already (best effort, 1 s)."""
        with trio.move_on_after(1):
            try:
                await self.reply(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                pass

    async def next_message(self) -> tuple[dict[str, object], list[int]] | None:
        return await self.stream.receive()

    async def next_request(self) -> cp.Request[cp.Reply] | None:
        """The next message within the current request (a forwarded signal, a resize on
        a console lease): its fds are closed and a bad one is skipped; None at the end."""
        while True:
            item = await self.stream.receive()
            if item is None:
                return None
            message, fds = item
            close_all(fds)
            try:
                return cp.decode_request(message).request
            except cp.RequestError as err:
                log.info("ignored within a request: %s", err)

    def close_fds(self) -> None:
        self.stream.close_fds()

    async def wait_unless_gone(self, event: trio.Event) -> bool:
        """Wait for `event`; False if the client hung up first (stop waiting for it).

        A request sharing the connection (control_mux) must not read the socket (its
        read loop does) and needs no watch: the loop cancels it when the client goes.
        """
        if self.sending is not None:
            await event.wait()
            return True
        return await self.stream.wait_unless_gone(event)

    async def serve(self) -> None:
        """Its requests, one at a time or many at once by id (runtime.daemon.control_mux)."""
        await control_mux.serve(self)

    # -- requests -------------------------------------------------------------------
    async def op_ping(self, request: cp.Ping, fds: list[int]) -> None:
        await self.reply(cp.Pong(pid=os.getpid()))

    async def op_state(self, request: cp.State, fds: list[int]) -> None:
        supervisor = self.daemon.supervisors.get(request.name)
        if supervisor is None:
            await self.reply(cp.StateReply(state=lc.STOPPED, pid=None))
        else:
            await self.reply(cp.StateReply(state=supervisor.state, pid=supervisor.pid))

    async def op_start(self, request: cp.Start, fds: list[int]) -> None:
        """start (lxc-start -d) or, with "attach", run attached (lxc-start -F, lxc-execute)."""
        name = request.name
        if name in self.daemon.supervisors:
            await self.reply(cp.ErrorReply(error="Container is already running", exit_code=1))
            return
        stdio = None
        if len(fds) == 3:  # taken over: the supervisor closes them when it is done
            stdio = (fds[0], fds[1], fds[2])
            del fds[:3]
        args = StartArgs(
            name=name,
            mode=request.mode,
            command=request.argv,  # as the user gave it: the supervisor chooses pid 1
            config_path=request.config_path,
            config_text=request.config_text,
            defines=request.defines,
            trace=start_trace.now() if request.trace else 0,
        )
        # lxc-start -F on a terminal: the console is proxied to it (runtime.daemon.console).
        foreground = request.attach and request.foreground_console
        if foreground:
            self.daemon.consoles.expect_foreground(name, request.winsize)
        supervisor = await self.daemon.launch(args, stdio)
        console_end = self.daemon.consoles.take_foreground_end(name) if foreground else None
        try:
            # The config's warnings first: the command prints them (it reads no config itself).
            warned = cp.Warned(warnings=tuple(supervisor.warnings)) if supervisor.warnings else None
            if supervisor.start_error is not None:
                if warned is not None:
                    await self.reply(warned)
                await self.reply(cp.ErrorReply(error=supervisor.start_error, exit_code=1))
                return
            supervisor.trace.mark("Started built")  # after RUNNING: this task's wake-up
            trace = tuple(cp.TraceMark(by=b, step=s, ns=n) for b, s, n in supervisor.trace.steps())
            started = cp.Started(pid=supervisor.pid, console=console_end is not None, trace=trace)
            try:
                if warned is not None:
                    await self.reply(warned)
                # Marked before the send (trio yields after it: the command may have
                # read the line by the time this task runs again).
                supervisor.end_trace.mark("Started sent")
                await self.reply(started, [] if console_end is None else [console_end])
            except BaseException:
                if request.attach:
                    supervisor.kill()  # nobody follows it: as if its command had gone
                raise
        finally:
            if console_end is not None:
                os.close(console_end)
        if not request.attach:
            await self.reply(cp.StartReply(pid=supervisor.pid))
            return
        await self._follow(supervisor, request.trace)

    async def _follow(self, supervisor: Supervisor, traced: bool = False) -> None:
        """Stay with an attached container: forward signals, report its exit."""
        async with trio.open_nursery() as nursery:

            async def forward_signals() -> None:
                while True:
                    message = await self.next_request()
                    if message is None:
                        # The command went away (killed): an attached container goes too.
                        supervisor.kill()
                        return
                    if isinstance(message, cp.Signal):
                        supervisor.send_signal(message.signal)

            nursery.start_soon(forward_signals)
            try:
                await supervisor.stopped.wait()
            except BaseException:
                supervisor.kill()  # its connection failed (garbage, reset): nobody follows it
                raise
            nursery.cancel_scope.cancel()
        if traced:  # lxc-execute -l TRACE: the steps of the end (runtime.daemon.exit_trace)
            await exit_trace.send_steps(self, supervisor.end_trace, "exit reply sent")
        await self.reply(
            cp.StartReply(
                status=supervisor.exit_status, exit_code=supervisor.exit_code, signal=supervisor.exit_signal
            )
        )

    async def op_stop(self, request: cp.Stop, fds: list[int]) -> None:
        decoded = start_trace.now() if request.trace else 0
        name = request.name
        supervisor = self.daemon.supervisors.get(name)
        if supervisor is None or supervisor.state == lc.STOPPED:
            await self.reply(cp.ErrorReply(error=f"{name} is not running", exit_code=2))
            return
        await supervisor.started.wait()
        if request.trace:  # lxc-stop -l TRACE (runtime.daemon.exit_trace)
            exit_trace.follow_stop(supervisor, decoded)
        timeout = request.timeout
        if request.kill:
            hard = await stop_signal.hard_stop(supervisor, request.stop_signal)
            supervisor.end_trace.mark("killed (cgroups)" if hard else "lxc.signal.stop sent")
            if not hard:  # lxc.signal.stop: the init's now
                await self.reply(cp.Done())
                return
        elif request.reboot:
            # As LXC's lxc-stop -r: wait until it runs again (up to -t), unless -W or -t 0.
            if supervisor.state not in INIT_RUNS:
                await self.reply(cp.ErrorReply(error=f"{name} is {supervisor.state}: it cannot reboot", exit_code=1))
                return
            await freezer.thaw_before_signal(supervisor)  # a frozen init cannot take it
            rebooted = supervisor.reboot(request.reboot_signal)
            if request.nowait or timeout == 0:
                await self.reply(cp.Done())
                return
            with trio.move_on_after(timeout if timeout >= 0 else float("inf")):
                if not await self.wait_unless_gone(rebooted):
                    return  # the command went away: its reboot stays asked for
            failure = supervisor.reboot_failure(rebooted, timeout)
            await self.reply(cp.Done() if failure is None else cp.ErrorReply(error=failure, exit_code=1))
            return
        else:
            await freezer.thaw_before_signal(supervisor)  # a frozen init cannot take it
            supervisor.halt(request.halt_signal)
            supervisor.end_trace.mark("halt signal sent")
            if request.nowait or timeout == 0:  # LXC: -t 0 asks and does not wait
                await self.reply(cp.Done())
                return
            with trio.move_on_after(timeout if timeout >= 0 else float("inf")):
                if not await self.wait_unless_gone(supervisor.stopped):
                    return  # the command went away: no hard stop after it (a killed lxc-stop)
            if not supervisor.stopped.is_set():
                if request.nokill:
                    await self.reply(cp.ErrorReply(error=f"{name} did not stop within {timeout:g} s", exit_code=1))
                    return
                if not await stop_signal.hard_stop(supervisor, request.stop_signal):
                    await self.reply(cp.Done())
                    return
        if request.nowait:
            await self.reply(cp.Done())
            return
        if await self.wait_unless_gone(supervisor.stopped):
            if request.trace:
                await exit_trace.send_steps(self, supervisor.end_trace, "stop reply sent")
            await self.reply(cp.Done())

    # The console ops (runtime/daemon/console/server.py); their fds were refused by decoding.
    async def op_console(self, request: cp.Console, fds: list[int]) -> None:
        """lxc-console: a terminal's fd, held until the connection closes (runtime.daemon.console)."""
        await console_server.serve_console(self, request, self.daemon.consoles, self.daemon.supervisors)

    async def op_console_resize(self, request: cp.ConsoleResize, fds: list[int]) -> None:
        await console_server.serve_resize(self, request, self.daemon.consoles)

    async def op_console_log(self, request: cp.ConsoleLog, fds: list[int]) -> None:
        await console_server.serve_log(self, request, self.daemon.consoles)

    async def op_signal(self, request: cp.Signal, fds: list[int]) -> None:
        supervisor = None if request.name is None else self.daemon.supervisors.get(request.name)
        if supervisor is None:
            await self.reply(cp.ErrorReply(error="not running", exit_code=1))
            return
        supervisor.send_signal(request.signal)
        await self.reply(cp.Done())

    # -- freezer, cgroup keys, figures (runtime/daemon/container_requests.py) -----------
    async def op_freeze(self, request: cp.Freeze, fds: list[int]) -> None:
        await self.reply(await container_requests.freeze(self.daemon.supervisors, request))

    async def op_unfreeze(self, request: cp.Unfreeze, fds: list[int]) -> None:
        await self.reply(await container_requests.unfreeze(self.daemon.supervisors, request))

    async def op_cgroup(self, request: cp.Cgroup, fds: list[int]) -> None:
        """A key read or written (Runtime.cgroup_get/set; lxc-cgroup works on the
        record's paths itself)."""
        await self.reply(await container_requests.cgroup(self.daemon.supervisors, request))

    async def op_device(self, request: cp.Device, fds: list[int]) -> None:
        from runtime.daemon.device import request_device

        await self.reply(await request_device(self.daemon.supervisors, request))

    async def op_checkpoint(self, request: cp.Checkpoint, fds: list[int]) -> None:
        from runtime.daemon.checkpoint_ops import request_checkpoint

        await self.reply(await request_checkpoint(self.daemon, request))

    async def op_restore(self, request: cp.Restore, fds: list[int]) -> None:
        from runtime.daemon.checkpoint_ops import request_restore

        await self.reply(await request_restore(self.daemon, request))

    async def op_start_many(self, request: cp.StartMany, fds: list[int]) -> None:
        """lxc-autostart: batches of starts in one request (runtime.daemon.many)."""
        from runtime.daemon.many import start_many

        await start_many(self, request)

    async def op_stop_many(self, request: cp.StopMany, fds: list[int]) -> None:
        """lxc-autostart -s/-k/-r: batches of stops or reboots (runtime.daemon.many)."""
        from runtime.daemon.many import stop_many

        await stop_many(self, request)

    async def op_stats(self, request: cp.Stats, fds: list[int]) -> None:
        await self.reply(await container_requests.stats(self.daemon.supervisors, request))

    async def op_metrics(self, request: cp.Metrics, fds: list[int]) -> None:
        """The daemon's own figures, for lxc-exporter (runtime.daemon.metrics)."""
        from runtime.daemon.metrics import collect

        await self.reply(collect(self.daemon))

    async def op_shutdown(self, request: cp.Shutdown, fds: list[int]) -> None:
        """Kill every container and exit (tests and `make` clean-up use it)."""
        for supervisor in list(self.daemon.supervisors.values()):
            await supervisor.started.wait()
            supervisor.kill()
        for supervisor in list(self.daemon.supervisors.values()):
            await supervisor.stopped.wait()
        await self.reply(cp.Done())
        self.daemon.idle_timeout = 0
        self.daemon.touch()


def _peer_allowed(sock: trio.socket.SocketType) -> bool:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

