"""The spawner: a single-threaded process that forks container inits for the daemon.

Why a separate process: forking a trio process and running Python in the child is
unsafe (trio's issues 464 and 2764: the child inherits the run loop's threads'
locks and wakeup fds). This process has no trio and no threads; it imports every
module a container child needs once, at start-up (after `pivot_root` the host's
Python files are gone, so nothing may be imported lazily in a child), and then
forks per request, so a start pays for no interpreter start-up.

It is also the parent of every container init: it is a child subreaper, so when
the forked child "A" has made the namespaces and forked the container's pid 1
("B"), B is re-parented here and reaped here. Every exit is reported to the
daemon as `{"op": "exit", "pid": P, "status": WAIT_STATUS}`; while no daemon is
connected (it crashed or is restarting) exits are queued and handed to the next
daemon that connects, so no exit status is lost. It exits by itself when it has no
children, no daemon and no queued exit.

Protocol: SOCK_SEQPACKET on `<rundir>/spawner.sock`, one JSON object per packet.
daemon -> spawner: `{"op": "spawn", "id": K, "request": {...}}` with SCM_RIGHTS
fds [sync, stdin, stdout, stderr]; spawner -> daemon: `{"op": "hello",
"children": [...], "exits": [...]}` on connect, `{"op": "spawned", "id": K,
"pid": A}` or `{"op": "spawn-failed", "id": K, "error": "..."}`, and the exits.

pid 1 of an application container is the trio-lxc-init program: its bytes are
read once here, at start-up (`runtime.spawn.initexe`), and each such container
execs its own sealed memfd copy. A spawner started before `make setup` built it
reads it again on the next application start.
"""

from __future__ import annotations

import base64
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
from runtime import linux, share_names
from runtime.config.parser import apply_define, parse_file, parse_text
from runtime.control import fds_from_ancillary
from runtime.spawn import initexe
from runtime.spawn.request import APPLICATION, ChildRequest

MAX_FDS = 8
PACKET = 1 << 20


def load_config(request: dict[str, object]) -> object:
    """The container's typed config from the request (a file, or text, plus -s defines)."""
    path = request.get("config_path")
    if isinstance(path, str):
        raw = parse_file(path)
    else:
        raw = parse_text(str(request.get("config_text") or ""), "<volatile container>")
    for define in request.get("defines") or []:
        apply_define(raw, str(define))
    config = config_model.from_raw(raw)
    shared = request.get("namespace_share")
    if isinstance(shared, dict):  # container names the daemon resolved to init pids
        share_names.apply(config, {str(k): str(v) for k, v in shared.items()})
    return config


class Spawner:
    """The state of the spawner process: its listener, the daemon, its children."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.daemon: socket.socket | None = None
        self.children: set[int] = set()
        self.has_children = False
        self.queued_exits: list[dict[str, int]] = []
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

    def init_for(self, spec: dict[str, object]) -> bytes | None:
        """The program an application container needs; None otherwise, or when it is
        not built (the child then refuses the start with `initexe.NOT_BUILT`)."""
        if spec.get("mode") != APPLICATION:
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
            readable = [self.listener, self.wake_r] + ([self.daemon] if self.daemon else [])
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
        self.send({"op": "hello", "children": sorted(self.children), "exits": self.queued_exits})
        self.queued_exits = []

    def send(self, message: dict[str, object]) -> None:
        if self.daemon is None:
            return
        try:
            self.daemon.send(json.dumps(message).encode())
        except OSError:
            self.daemon.close()
            self.daemon = None

    def serve_one(self) -> None:
        assert self.daemon is not None
        try:
            data, ancdata, _, _ = self.daemon.recvmsg(PACKET, socket.CMSG_SPACE(MAX_FDS * 4))
        except OSError:
            data, ancdata = b"", []
        fds = fds_from_ancillary(ancdata)
        if not data:
            for fd in fds:
                os.close(fd)
            self.daemon.close()
            self.daemon = None
            return
        try:
            message = json.loads(data)
        except ValueError:
            message = {}
        if message.get("op") == "spawn":
            self.spawn(message, fds)
        else:
            for fd in fds:
                os.close(fd)

    def spawn(self, message: dict[str, object], fds: list[int]) -> None:
        request_id = message.get("id")
        spec = message.get("request")
        try:
            if not isinstance(spec, dict) or len(fds) != 4:
                raise ValueError("malformed spawn request")
            init_image = self.init_for(spec)
            config = load_config(spec)
            pid = os.fork()
        except Exception as err:  # noqa: BLE001 - reported to the daemon, which aborts the start
            for fd in fds:
                os.close(fd)
            self.send({"op": "spawn-failed", "id": request_id, "error": str(err)})
            return
        if pid == 0:
            self.become_child(spec, config, fds, init_image)
        for fd in fds:
            os.close(fd)
        self.children.add(pid)
        self.send({"op": "spawned", "id": request_id, "pid": pid})

    def become_child(
        self, spec: dict[str, object], config: object, fds: list[int], init_image: bytes | None
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
            request = ChildRequest(
                name=str(spec["name"]),
                lxcpath=str(spec["lxcpath"]),
                mode=str(spec["mode"]),
                argv=[str(a) for a in spec["argv"]],  # type: ignore[union-attr]
                config=config,
                sync=sync,
                stdio=(fds[1], fds[2], fds[3]),
                init_image=init_image,
                console=spec.get("console") or None,  # type: ignore[arg-type]
                ttys=tuple(str(t) for t in spec.get("ttys") or ()),  # type: ignore[union-attr]
                hook_env=_hook_env(spec.get("hook_env")),
                hook_timeout=_hook_timeout(spec.get("hook_timeout")),
                seccomp_bpf=_seccomp_bpf(spec.get("seccomp_bpf")),
            )
            child.run_container(request)
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
            exit_record = {"pid": pid, "status": status}
            if self.daemon is not None:
                self.send({"op": "exit", **exit_record})
            if self.daemon is None:  # none connected, or the send just failed
                self.queued_exits.append(exit_record)

def _hook_env(value: object) -> dict[str, str] | None:
    """The hooks' environment from a spawn request (runtime.hooks.host.request_fields)."""
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items()}


def _seccomp_bpf(value: object) -> bytes | None:
    """The compiled lxc.seccomp.profile from a spawn request (runtime.seccomp.start)."""
    return base64.b64decode(value) if isinstance(value, str) and value else None


def _hook_timeout(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    socket_path = args[args.index("--socket") + 1]
    ready_fd = int(args[args.index("--ready-fd") + 1]) if "--ready-fd" in args else -1
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    linux.set_name("lxc-spawner")
    spawner = Spawner(socket_path)
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
