"""The runtime daemon of one lxcpath: control server, bus, spawner, supervisors.

One trio process per lxcpath, started on demand by the first command that needs
it (runtime.daemon_client). It serves the control socket (requests from the
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

import trio

from runtime import attach_record, container_log, ephemeral, freezer, records, stop_signal
from runtime import lifecycle as lc
from runtime.console import server as console_server
from runtime.console.manager import ConsoleManager
from runtime.control import MAX_FDS as CONTROL_MAX_FDS
from runtime.control import LineReader, ProtocolError, encode, fds_from_ancillary
from runtime.daemon import requests as rq
from runtime.daemon.spawner_link import Spawner
from runtime.init_wait import open_pidfd
from runtime.lxcpath import ContainerPaths, list_names
from runtime.net.network import ContainerNetwork, cleanup_dead_record
from runtime.rundir import remove_run_dir, sweep_vanished
from runtime.status import process_start_time
from runtime.supervisor import DaemonLinks, StartSpec, Supervisor

log = logging.getLogger("trio-lxc.daemon")

#: File descriptors one control request may carry (runtime.control).
MAX_FDS = CONTROL_MAX_FDS
#: How long a control connection may go without a complete request while none runs.
REQUEST_TIMEOUT = float(os.environ.get("TRIO_LXC_REQUEST_TIMEOUT", "30"))
_TIMED_OUT = object()
#: Record states in which the init was running when the record was written.
LIVE_STATES = (lc.RUNNING, lc.FROZEN, lc.THAWED, lc.FREEZING)
#: At an idle exit: how long the spawner gets to exit before the run directory stays.
SPAWNER_EXIT_WAIT = 5.0


class Daemon:
    """The daemon's state and its request handlers."""

    def __init__(self, lxcpath: str, rundir: str, *, idle_timeout: float) -> None:
        self.lxcpath = lxcpath
        self.rundir = rundir
        self.idle_timeout = idle_timeout
        self.supervisors: dict[str, Supervisor] = {}
        self.connections = 0
        self.activity = trio.Event()
        self.bus: object | None = None
        self.spawner: Spawner | None = None
        self.nursery: trio.Nursery | None = None
        self.identity = {"pid": os.getpid(), "start_time": process_start_time(os.getpid())}
        self.consoles = ConsoleManager()

    # -- life -------------------------------------------------------------------
    async def run(self, ready: callable | None = None) -> None:  # type: ignore[valid-type]
        """Serve until idle, then leave nothing behind (see `_leave`)."""
        from bus.server import BusServer

        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.bus = BusServer(
                os.path.join(self.rundir, "bus.sock"),
                lxcpath=self.lxcpath,
                snapshot_source=self.snapshot,
            )
            self.spawner = Spawner(os.path.join(self.rundir, "spawner.sock"))
            await nursery.start(self.spawner.run)  # kept (restarted) for the daemon's life
            await nursery.start(self.consoles.run)
            # Before the bus serves anyone: what happened while no daemon ran goes into
            # its history first, so `lxc-monitor --since` and `lxc-wait` see it.
            await self.readopt()
            await nursery.start(self.bus.serve)  # type: ignore[attr-defined]
            from runtime.daemon.lxcpath_watch import watch_lxcpath  # created/destroyed events

            await nursery.start(watch_lxcpath, self.lxcpath, self.bus)
            listener = await self.listen()
            nursery.start_soon(self.serve_control, listener)
            if ready is not None:
                ready()
            log.info("daemon for %s ready", self.lxcpath)
            await self.wait_idle()
            log.info("idle for %.0f s: exiting", self.idle_timeout)
            # Stop taking requests first: a command that comes now starts our successor
            # (which waits for our lock: runtime.rundir.acquire_daemon_lock).
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
        """Return once nothing has happened for idle_timeout with nothing running."""
        while True:
            self.activity = trio.Event()
            if self.busy():
                # Bus subscribers come and go without telling us: look again soon.
                with trio.move_on_after(1):
                    await self.activity.wait()
                continue
            with trio.move_on_after(self.idle_timeout):
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
        self.bus.publish_state(name, state, reason)  # type: ignore[attr-defined]

    def publish_exit(self, name: str, exit_code: int | None, sig: int | None) -> None:
        self.bus.publish_exit(name, exit_code=exit_code, signal=sig)  # type: ignore[attr-defined]

    def links(self) -> DaemonLinks:
        assert self.spawner is not None
        links = DaemonLinks(
            lxcpath=self.lxcpath,
            spawner=self.spawner,
            publish_state=self.publish_state,
            publish_exit=self.publish_exit,
            daemon_identity=self.identity,
        )
        links.consoles = self.consoles  # type: ignore[attr-defined]  (runtime.console.manager)
        links.running_init = self.running_init  # type: ignore[attr-defined]  (runtime.share_names)
        return links

    def running_init(self, name: str) -> int | None:
        """The init pid of container `name` while it runs (lxc.namespace.share.* by name)."""
        supervisor = self.supervisors.get(name)
        if supervisor is None or supervisor.state not in LIVE_STATES:
            return None
        return supervisor.pid

    # -- supervisors ----------------------------------------------------------------
    async def launch(self, spec: StartSpec) -> Supervisor:
        """Start a supervisor for `spec` and wait until the start succeeded or failed."""
        assert self.nursery is not None
        supervisor = Supervisor(self.links(), spec)
        self.supervisors[spec.name] = supervisor
        self.nursery.start_soon(self._run_supervisor, supervisor)
        await supervisor.started.wait()
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
            self.touch()

    async def readopt(self) -> None:
        """Take over containers an earlier daemon left running; account for the dead.

        A live one gets a supervisor that enters its life at supervise (runtime.
        supervisor), so a reboot, the exit and the clean-up happen to it exactly as to
        a container this daemon started. A dead one is announced (exit, STOPPING,
        STOPPED) before it is cleaned up, and before the bus serves anyone.
        """
        assert self.spawner is not None
        for name, record in records.read_records(self.lxcpath).items():
            pid = record.get("pid")
            pidfd = None
            if isinstance(pid, int) and record.get("state") in LIVE_STATES:
                start_time = record.get("pid_start_time")
                pidfd = open_pidfd(pid, start_time if isinstance(start_time, int) else -1)
            if pidfd is None:
                await self._bury(name, record)
                continue
            assert isinstance(pid, int)
            self.spawner.take_exit(pid)  # one queued for this pid number was another process
            self._adopt(name, record, pid, pidfd)
        records.remove_leftovers(self.lxcpath, set(self.supervisors))

    def _adopt(self, name: str, record: dict[str, object], pid: int, pidfd: int) -> None:
        log.info("%s: re-adopting init pid %s", name, pid)
        spec = StartSpec(
            name=name,
            mode=str(record.get("mode") or "system"),
            argv=[str(a) for a in record.get("argv") or []],  # type: ignore[union-attr]
            config_path=record.get("config_path"),  # type: ignore[arg-type]
            defines=[str(d) for d in record.get("defines") or []],  # type: ignore[union-attr]
        )
        supervisor = Supervisor(self.links(), spec)
        supervisor.cgroups = _cgroups_from(record)
        supervisor.seccomp_bpf = attach_record.decode_bpf(record)  # lxc-attach still loads it
        try:
            supervisor.config = supervisor._load_config()
        except Exception:  # noqa: BLE001 - the config may have changed; keep supervising
            supervisor.config = None
        if supervisor.config is not None:  # lxc.log.*: the container's log goes on
            try:
                supervisor.log_handlers = container_log.open_handlers(name, supervisor.config)
            except container_log.ContainerLogError as err:
                log.warning("%s: %s", name, err)
        supervisor.net = ContainerNetwork.from_record(record, config=supervisor.config, pid=pid)
        supervisor.adopt(str(record["state"]), pid, pidfd)
        self.supervisors[name] = supervisor
        assert self.nursery is not None
        self.nursery.start_soon(self._run_supervisor, supervisor, True)

    async def _bury(self, name: str, record: dict[str, object]) -> None:
        """A container that died while no daemon ran: publish its end, then clean up."""
        assert self.spawner is not None
        log.info("%s: cleaning up after a container that died unsupervised", name)
        pid = record.get("pid")
        if record.get("state") in LIVE_STATES:
            # Its status if the spawner (its parent) queued it; unknown otherwise.
            status = self.spawner.take_exit(pid) if isinstance(pid, int) else None
            spec = StartSpec(name=name, mode=str(record.get("mode") or "system"), argv=[], config_path=None)
            figures = Supervisor(self.links(), spec)
            figures._note_exit(status)
            self.publish_exit(name, figures.exit_code, figures.exit_signal)
        self.publish_state(name, lc.STOPPING)
        cgroups = _cgroups_from(record)
        if cgroups is not None:
            try:
                cgroups.kill_all(signal.SIGKILL)  # type: ignore[attr-defined]
                cgroups.destroy()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001
                log.exception("%s: cleaning up cgroups", name)
        await cleanup_dead_record(record)  # host-side network devices
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
        sock.listen(128)
        return trio.SocketListener(sock)

    async def serve_control(self, listener: trio.SocketListener) -> None:
        await trio.serve_listeners(self.handle_connection, [listener])  # type: ignore[arg-type]

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
        self.connections += 1
        self.touch()
        conn = ControlConnection(self, stream)
        try:
            await conn.serve()
        except ProtocolError as err:
            log.warning("control connection refused: %s", err)
            await conn.reply_quietly({"ok": False, "error": f"bad request: {err}", "exit_code": 1})
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as err:
            # ConnectionError: a command that exits with a reply unread resets the socket.
            log.debug("control connection ended: %s", err)
        except Exception as err:  # noqa: BLE001 - one bad request must not end the daemon
            # The daemon supervises every container of the lxcpath: a bug in serving
            # one command is logged and answered, never allowed to take it down.
            log.exception("control request failed")
            await conn.reply_quietly({"ok": False, "error": f"internal error: {err}", "exit_code": 1})
        finally:
            conn.close_fds()
            self.connections -= 1
            self.touch()
            await stream.aclose()


class ControlConnection:
    """One command's connection: reads requests, checks them, runs them, writes replies.

    Every request is checked field by field first (runtime.daemon.requests). The
    fds that came with a request are closed when it has been handled, whatever
    the op, except those a handler takes over (a start's stdio, which the
    supervisor then owns). A connection that sends no complete request for
    REQUEST_TIMEOUT seconds while none is running is closed.
    """

    def __init__(self, daemon: Daemon, stream: trio.SocketStream) -> None:
        self.daemon = daemon
        self.stream = stream
        self.reader = LineReader(max_fds=MAX_FDS)
        self.queue: list[tuple[dict[str, object], list[int]]] = []
        self.new_message = trio.Event()
        self.eof = False

    async def reply(self, message: dict[str, object]) -> None:
        await self.stream.send_all(encode(message))

    async def reply_quietly(self, message: dict[str, object]) -> None:
        """A last reply to a command that may be gone already (best effort, 1 s)."""
        with trio.move_on_after(1):
            try:
                await self.reply(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                pass

    async def read_more(self) -> bool:
        sock = self.stream.socket
        data, ancdata, flags, _ = await sock.recvmsg(65536, socket.CMSG_SPACE(MAX_FDS * 4))
        fds = fds_from_ancillary(ancdata)
        if flags & socket.MSG_CTRUNC:
            _close(fds)  # the kernel dropped the rest: this request is incomplete
            raise ProtocolError(f"more than {MAX_FDS} file descriptors with one message")
        if not data:
            _close(fds)
            self.eof = True
            return False
        self.queue.extend(self.reader.feed(data, fds))
        return True

    async def next_message(self) -> tuple[dict[str, object], list[int]] | None:
        while not self.queue:
            if self.eof or not await self.read_more():
                return None
        return self.queue.pop(0)

    def close_fds(self) -> None:
        for _, fds in self.queue:
            _close(fds)
        self.queue.clear()
        _close(self.reader.leftover_fds())

    async def serve(self) -> None:
        while True:
            item: tuple[dict[str, object], list[int]] | None | object = _TIMED_OUT
            with trio.move_on_after(REQUEST_TIMEOUT):
                item = await self.next_message()
            if item is _TIMED_OUT:
                log.info("control connection: no complete request in %g s: closed", REQUEST_TIMEOUT)
                await self.reply_quietly(
                    {"ok": False, "error": f"no complete request within {REQUEST_TIMEOUT:g} s",
                     "exit_code": 1}
                )  # fmt: skip
                return
            if item is None:
                return
            message, fds = item  # type: ignore[misc]
            try:
                await self.dispatch(message, fds)
            finally:
                _close(fds)  # whatever the handler did not take over

    async def dispatch(self, message: dict[str, object], fds: list[int]) -> None:
        """Check the request, then run its op; a bad one gets a one-line error."""
        try:
            op, request = rq.parse(message)
        except rq.RequestError as err:
            op, request = "", err
        if op != "start":  # only a start takes fds (its stdio); the rest go now
            _close(fds)
            fds.clear()
        if isinstance(request, rq.RequestError):
            log.info("request refused: %s", request)
            await self.reply(request.reply())
            return
        handler = getattr(self, f"op_{op.replace('-', '_')}")
        await handler(request, message, fds)

    # -- requests -------------------------------------------------------------------
    async def op_ping(self, request: rq.Ping, message: dict[str, object], fds: list[int]) -> None:
        await self.reply({"ok": True, "pid": os.getpid()})

    async def op_state(self, request: rq.Named, message: dict[str, object], fds: list[int]) -> None:
        supervisor = self.daemon.supervisors.get(request.name)
        if supervisor is None:
            await self.reply({"ok": True, "state": lc.STOPPED, "pid": None})
        else:
            await self.reply({"ok": True, "state": supervisor.state, "pid": supervisor.pid})

    async def op_start(self, request: rq.Start, message: dict[str, object], fds: list[int]) -> None:
        """start (lxc-start -d) or, with "attach", run attached (lxc-start -F, lxc-execute)."""
        name = request.name
        if name in self.daemon.supervisors:
            await self.reply({"ok": False, "error": "Container is already running", "exit_code": 1})
            return
        stdio = None
        if len(fds) >= 3:  # taken over: the supervisor closes them when it is done
            stdio = (fds[0], fds[1], fds[2])
            del fds[:3]
        spec = StartSpec(
            name=name,
            mode=request.mode,
            argv=list(request.argv),
            config_path=request.config_path,
            config_text=request.config_text,
            defines=list(request.defines),
            stdio=stdio,
        )
        # lxc-start -F on a terminal: the console is proxied to it (runtime.console).
        foreground = request.attach and request.foreground_console
        if foreground:
            self.daemon.consoles.expect_foreground(name, request.winsize)
        supervisor = await self.daemon.launch(spec)
        console_end = self.daemon.consoles.take_foreground_end(name) if foreground else None
        try:
            if supervisor.start_error is not None:
                await self.reply({"ok": False, "error": supervisor.start_error, "exit_code": 1})
                return
            started = {"event": "started", "pid": supervisor.pid, "console": console_end is not None}
            await console_server.reply_with_fds(self, started, [] if console_end is None else [console_end])
        finally:
            if console_end is not None:
                os.close(console_end)
        if not request.attach:
            await self.reply({"ok": True, "pid": supervisor.pid})
            return
        await self._follow(supervisor)

    async def _follow(self, supervisor: Supervisor) -> None:
        """Stay with an attached container: forward signals, report its exit."""
        async with trio.open_nursery() as nursery:

            async def forward_signals() -> None:
                while True:
                    item = await self.next_message()
                    if item is None:
                        # The command went away (killed): an attached container goes too.
                        supervisor.kill()
                        return
                    message, fds = item
                    _close(fds)
                    if message.get("op") != "signal":
                        continue
                    try:
                        forwarded = rq.parse_signal(message)
                    except rq.RequestError as err:
                        log.info("%s: signal not forwarded: %s", supervisor.name, err)
                        continue
                    supervisor.send_signal(forwarded.signal)

            nursery.start_soon(forward_signals)
            await supervisor.stopped.wait()
            nursery.cancel_scope.cancel()
        await self.reply(
            {
                "ok": True,
                "status": supervisor.exit_status,
                "exit_code": supervisor.exit_code,
                "signal": supervisor.exit_signal,
            }
        )

    async def op_stop(self, request: rq.Stop, message: dict[str, object], fds: list[int]) -> None:
        name = request.name
        supervisor = self.daemon.supervisors.get(name)
        if supervisor is None or supervisor.state == lc.STOPPED:
            await self.reply({"ok": False, "error": f"{name} is not running", "exit_code": 2})
            return
        await supervisor.started.wait()
        timeout = request.timeout
        if request.kill or timeout == 0:
            if not await stop_signal.hard_stop(supervisor, request.stop_signal):  # lxc.signal.stop: the init's now
                await self.reply({"ok": True})
                return
        elif request.reboot:
            await freezer.thaw_before_signal(supervisor)  # a frozen init cannot take it
            supervisor.reboot_requested = True
            supervisor.send_signal(request.reboot_signal or supervisor.reboot_signal())
            await self.reply({"ok": True})
            return
        else:
            await freezer.thaw_before_signal(supervisor)  # a frozen init cannot take it
            supervisor.send_signal(request.halt_signal or supervisor.halt_signal())
            if request.nowait:
                await self.reply({"ok": True})
                return
            with trio.move_on_after(timeout if timeout >= 0 else float("inf")):
                await supervisor.stopped.wait()
            if not supervisor.stopped.is_set():
                if request.nokill:
                    await self.reply(
                        {"ok": False, "error": f"{name} did not stop within {timeout:g} s",
                         "exit_code": 1}
                    )  # fmt: skip
                    return
                if not await stop_signal.hard_stop(supervisor, request.stop_signal):
                    await self.reply({"ok": True})
                    return
        if request.nowait:
            await self.reply({"ok": True})
            return
        await supervisor.stopped.wait()
        await self.reply({"ok": True})

    # The console ops (runtime/console/server.py) get the checked message; their
    # fds were closed by `dispatch` already.
    async def op_console(self, request: rq.Console, message: dict[str, object], fds: list[int]) -> None:
        """lxc-console: a terminal's fd, held until the connection closes (runtime.console)."""
        await console_server.serve_console(self, message, [])

    async def op_console_resize(
        self, request: rq.ConsoleResize, message: dict[str, object], fds: list[int]
    ) -> None:
        if request.name is None:
            await self.reply(rq.RequestError("bad request: 'name' is missing").reply())
            return
        await console_server.serve_resize(self, message, [])

    async def op_console_log(self, request: rq.ConsoleLog, message: dict[str, object], fds: list[int]) -> None:
        await console_server.serve_log(self, message, [])

    async def op_signal(self, request: rq.Signal, message: dict[str, object], fds: list[int]) -> None:
        supervisor = None if request.name is None else self.daemon.supervisors.get(request.name)
        if supervisor is None:
            await self.reply({"ok": False, "error": "not running", "exit_code": 1})
            return
        supervisor.send_signal(request.signal)
        await self.reply({"ok": True})

    # -- freezer, cgroup keys, figures (the logic is in runtime/freezer.py) ------------
    async def op_freeze(self, request: rq.Named, message: dict[str, object], fds: list[int]) -> None:
        await self.reply(await freezer.request_freeze(self.daemon.supervisors, message))

    async def op_unfreeze(self, request: rq.Named, message: dict[str, object], fds: list[int]) -> None:
        await self.reply(await freezer.request_unfreeze(self.daemon.supervisors, message))

    async def op_cgroup(self, request: rq.Cgroup, message: dict[str, object], fds: list[int]) -> None:
        """{"key": K} reads, {"key": K, "value": V} writes (Runtime.cgroup_get/set;
        lxc-cgroup works on the record's paths itself)."""
        await self.reply(await freezer.request_cgroup(self.daemon.supervisors, message))

    async def op_device(self, request: rq.Device, message: dict[str, object], fds: list[int]) -> None:
        from runtime.device import request_device

        await self.reply(await request_device(self.daemon.supervisors, message))

    async def op_checkpoint(self, request: rq.Checkpoint, message: dict[str, object], fds: list[int]) -> None:
        from runtime.checkpoint_ops import request_checkpoint

        await self.reply(await request_checkpoint(self.daemon, message))

    async def op_restore(self, request: rq.Checkpoint, message: dict[str, object], fds: list[int]) -> None:
        from runtime.checkpoint_ops import request_restore

        await self.reply(await request_restore(self.daemon, message))

    async def op_stats(self, request: rq.Named, message: dict[str, object], fds: list[int]) -> None:
        await self.reply(await freezer.request_stats(self.daemon.supervisors, message))

    async def op_metrics(self, request: rq.Ping, message: dict[str, object], fds: list[int]) -> None:
        """The daemon's own figures, for lxc-exporter (runtime.daemon.metrics)."""
        from runtime.daemon.metrics import daemon_figures

        await self.reply({"ok": True, **daemon_figures(self.daemon)})

    async def op_shutdown(self, request: rq.Shutdown, message: dict[str, object], fds: list[int]) -> None:
        """Kill every container and exit (tests and `make` clean-up use it)."""
        for supervisor in list(self.daemon.supervisors.values()):
            await supervisor.started.wait()
            supervisor.kill()
        for supervisor in list(self.daemon.supervisors.values()):
            await supervisor.stopped.wait()
        await self.reply({"ok": True})
        self.daemon.idle_timeout = 0
        self.daemon.touch()


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _peer_allowed(sock: trio.socket.SocketType) -> bool:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


def _cgroups_from(record: dict[str, object]) -> object | None:
    paths = record.get("cgroups")
    if not isinstance(paths, dict):
        return None
    from runtime.cgroups import ContainerCgroups

    limits = record.get("cgroup_limits")
    try:
        return ContainerCgroups.from_paths(paths, limits if isinstance(limits, dict) else None)
    except Exception:  # noqa: BLE001
        return None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def container_paths(lxcpath: str, name: str) -> ContainerPaths:
    return ContainerPaths(lxcpath, name)
