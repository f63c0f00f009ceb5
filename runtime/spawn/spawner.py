"""The spawner: a single-threaded process that forks container inits for the daemon.

Why a separate process: forking a trio process and running Python in the child is
unsafe (trio's issues 464 and 2764: the child inherits the run loop's threads'
locks and wakeup fds). This process has no trio and no threads; it imports every
module a container child needs once, at start-up (after `pivot_root` the host's
Python files are gone, so nothing may be imported lazily in a child), and then
forks per request, so a start pays for no interpreter start-up.

It is also the parent of every container init: usually it clones the init straight
into its new pid namespace (runtime.spawn.pidns_clone); otherwise, a child
subreaper, it forks a child "A" that makes the namespaces and forks the container's
pid 1 ("B"), and B is re-parented here. Either way the init is reaped here. Every exit is reported to the
daemon as `{"op": "exit", "pid": P, "status": WAIT_STATUS}`; while no daemon is
connected (it crashed or is restarting) exits are queued and handed to the next
daemon that connects, so no exit status is lost. It exits by itself when it has no
children, no daemon and no queued exit.

Protocol: runtime.spawn.messages (typed, encoded once per packet). A spawn
carries the start the daemon resolved (runtime.spawn.start_spec), its config already
typed: the spawner never reads the config file.

pid 1 of an application container is the trio-lxc-init program: its bytes are
read once here, at start-up (`runtime.spawn.initexe`), and each such container
execs its own sealed memfd copy. A spawner started before `make setup` built it
reads it again on the next application start.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import traceback

# Everything a container child runs must be imported before the first fork.
import runtime.config.model as config_model  # noqa: F401  (the child needs it loaded)
import runtime.spawn.child as child
from runtime.client.control import fds_from_ancillary
from runtime.kernel import linux, start_trace
from runtime.spawn import initexe, pidns_clone, start_spec
from runtime.spawn import messages as m
from runtime.spawn.request import ChildRequest

MAX_FDS = 8
PACKET = 1 << 20


class Spawner:
    """The state of the spawner process: its listener, the daemon, its children."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.daemon: socket.socket | None = None
        self.children: set[int] = set()
        self.has_children = False
        self.queued_exits: list[m.ExitReport] = []
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.init_image: bytes | None = None
        try:
            self.load_init()
        except initexe.InitNotBuilt:
            pass  # each application start is refused with the reason until it is built

    def load_init(self) -> bytes:
        """The trio-lxc-init program's bytes (read once); InitNotBuilt if missing."""
        if self.init_image is None:
            self.init_image = initexe.load_image()
        return self.init_image

    def init_for(self, spec: start_spec.StartSpec) -> bytes | None:
        """The program an application container needs; None otherwise, or when it is
        not built (the child then refuses the start with `initexe.NOT_BUILT`)."""
        if not spec.is_application:
            return None
        try:
            return self.load_init()
        except initexe.InitNotBuilt:
            return None

    def listen(self) -> None:
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self.listener.bind(self.socket_path)
        os.chmod(self.socket_path, 0o600)
        self.listener.listen(4)

    def run(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        while True:
            self.reap()
            # Queued exits keep it too: they are the only record of how a container
            # died while no daemon ran, and the next daemon publishes them.
            if self.daemon is None and not self.has_children and not self.queued_exits:
                return
            readable: list[socket.socket | int] = [self.listener, self.wake_r]
            if self.daemon is not None:
                readable.append(self.daemon)
            ready, _, _ = select.select(readable, [], [], 5.0)
            if self.wake_r in ready:
                while True:
                    try:
                        if not os.read(self.wake_r, 4096):
                            break
                    except BlockingIOError:
                        break
            if self.listener in ready:
                self.accept()
            if self.daemon is not None and self.daemon in ready:
                self.serve_one()

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        uid = int.from_bytes(creds[4:8], sys.byteorder)
        if uid not in (0, os.getuid()):
            conn.close()
            return
        if self.daemon is not None:
            self.daemon.close()  # a new daemon replaces one that hung up uncleanly
        self.daemon = conn
        self.send(m.Hello(children=tuple(sorted(self.children)), exits=tuple(self.queued_exits)))
        self.queued_exits = []

    def send(self, message: m.ToDaemon) -> None:
        if self.daemon is None:
            return
        try:
            self.daemon.send(m.encode(message))
        except OSError:
            self.daemon.close()
            self.daemon = None

    def serve_one(self) -> None:
        assert self.daemon is not None
        try:
            data, ancdata, _, _ = self.daemon.recvmsg(PACKET, socket.CMSG_SPACE(MAX_FDS * 4))
        except OSError:
            data, ancdata = b"", []
        start_trace.received()
        fds = fds_from_ancillary(ancdata)
        if not data:
            for fd in fds:
                os.close(fd)
            self.daemon.close()
            self.daemon = None
            return
        try:
            message = m.decode(data)
        except m.LinkProtocolError as err:
            message = None
            request_id = _request_id(data)
            if request_id is not None:  # the daemon waits for an answer to it
                self.send(m.SpawnFailed(id=request_id, error=f"malformed spawn request: {err}"))
        if isinstance(message, m.Spawn):
            self.spawn(message, fds)
        else:
            for fd in fds:
                os.close(fd)

    def spawn(self, message: m.Spawn, fds: list[int]) -> None:
        request = message.request
        try:
            if len(fds) != m.SPAWN_FDS:
                raise ValueError("malformed spawn request")
            init_image = self.init_for(request.spec)
            start_trace.begin(request.trace)
            start_trace.mark("fork", by="spawner")
            pid, cloned_into = _fork(request.spec, request.cgroup_into)
        except Exception as err:  # noqa: BLE001 - reported to the daemon, which aborts the start
            for fd in fds:
                os.close(fd)
            self.send(m.SpawnFailed(id=message.id, error=str(err)))
            return
        if pid == 0:
            self.become_child(request, fds, init_image, cloned_into)
        for fd in fds:
            os.close(fd)
        self.children.add(pid)
        self.send(m.Spawned(id=message.id, pid=pid))

    def become_child(
        self, request: m.SpawnRequest, fds: list[int], init_image: bytes | None, cloned_into: bool
    ) -> None:
        """In the forked child: drop the spawner's own fds and signals, then set up."""
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            self.listener.close()
            if self.daemon is not None:
                self.daemon.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            sync = socket.socket(fileno=fds[0])
            spec = request.spec
            child.run_container(
                ChildRequest(
                    name=spec.name,
                    lxcpath=spec.lxcpath,
                    mode=spec.mode,
                    argv=list(spec.argv),
                    config=spec.config,
                    sync=sync,
                    stdio=(fds[1], fds[2], fds[3]),
                    init_image=init_image,
                    console=request.console,
                    ttys=request.ttys,
                    hook_env=request.hook_env,
                    hook_timeout=request.hook_timeout,
                    seccomp_bpf=spec.seccomp_bpf,
                    cgroup_join=request.cgroup_join,
                    cgroup_joined=(request.cgroup_into,) if cloned_into and request.cgroup_into else (),
                )
            )
        except BaseException:  # noqa: BLE001 - never return into the spawner's loop
            traceback.print_exc()
        finally:
            os._exit(1)

    def reap(self) -> None:
        """Reap every exited child (A processes and adopted container inits) and report."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.has_children = False
                return
            self.has_children = True
            if pid == 0:
                return
            self.children.discard(pid)
            if self.daemon is not None:
                self.send(m.Exited(pid=pid, status=status))
            if self.daemon is None:  # none connected, or the send just failed
                self.queued_exits.append(m.ExitReport(pid=pid, status=status))


def _fork(spec: start_spec.StartSpec, cgroup_dir: str | None) -> tuple[int, bool]:
    """Fork the container child: straight into its new pid namespace (and its cgroup2
    directory) when nothing else needs a process before it (runtime.spawn.pidns_clone),
    else a plain fork. (pid, whether the child was made in `cgroup_dir`)."""
    if pidns_clone.applies(spec.config, spec.mode):
        cloned = pidns_clone.fork_in_new_pid_namespace(cgroup_dir)
        if cloned is not None:
            return cloned
    return os.fork(), False


def _request_id(packet: bytes) -> int | None:
    """The id of a spawn that did not decode, so its start fails instead of hanging."""
    try:
        data = json.loads(packet)
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) and data.get("op") == "spawn" else None
    return value if isinstance(value, int) else None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    socket_path = args[args.index("--socket") + 1]
    ready_fd = int(args[args.index("--ready-fd") + 1]) if "--ready-fd" in args else -1
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    linux.set_name("lxc-spawner")
    start_spec.warm_up()  # the typed config's decoder, built once before any fork
    pidns_clone.warm_up()
    child.prepare_title()  # the init's blank title, inherited by every fork
    spawner = Spawner(socket_path)
    linux.malloc_trim()  # the imports' garbage: ~0.6 MiB of free heap back to the kernel
    spawner.listen()
    if ready_fd >= 0:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    # Stay alive at least until the daemon that started us connects.
    ready, _, _ = select.select([spawner.listener], [], [], 10.0)
    if ready:
        spawner.accept()
    spawner.run()
    try:
        os.unlink(socket_path)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
