"""`trio-lxc-oci create`: a container set up and waiting before its program.

1. The bundle's config.json is translated (runtime.oci.spec): a field that
   cannot be honoured fails here, naming it, before anything exists.
2. `<root>/<id>/` gets the LXC config, oci.json and the exec FIFO that holds the
   init back (runtime.spawn.exec_gate) until `start`.
3. The keeper is forked (cli/oci_keeper.py) and follows the container on the bus.
4. The daemon is asked to start the container with our stdio (or, with
   process.terminal, the slave of a new pty whose master goes to
   --console-socket, runc's protocol: one message, the fd in SCM_RIGHTS); it
   answers once the init waits at the gate.
5. --pid-file gets the keeper's pid (what the caller reaps; see the keeper).
A failure at any step removes everything made (the daemon cleans up its own side).
"""

from __future__ import annotations

import argparse
import array
import fcntl
import os
import shlex
import shutil
import signal
import socket
import struct
import sys
import termios
import time

from cli import oci_common, oci_keeper
from cli.oci import Context, OciError
from runtime.oci import state as oci_state


def create(ctx: Context, args: argparse.Namespace) -> int:
    from runtime.oci.errors import SpecError
    from runtime.oci.spec import translate

    container_id = oci_common.checked_id(args.id)
    if args.preserve_fds:
        raise OciError("--preserve-fds: passing extra fds is not supported by trio-lxc-oci")
    if args.no_pivot:
        raise OciError("--no-pivot: trio-lxc always uses pivot_root (refused rather than ignored)")
    ctx.ensure_root()
    directory = oci_state.directory(ctx.root, container_id)
    if os.path.lexists(directory):
        raise OciError(f"container with id exists: {container_id}")
    bundle = os.path.abspath(args.bundle)
    try:
        translation = translate(bundle, container_id)
    except SpecError as err:
        raise OciError(f"config.json: {err}") from None
    if translation.terminal and not args.console_socket:
        raise OciError("cannot allocate tty if runc will detach without setting console socket")
    if not translation.terminal and args.console_socket:
        raise OciError("cannot use console socket if runc will not detach or allocate tty")
    lines = translation.config_text
    early = [kind for kind in ("prestart", "createRuntime") if kind in translation.hooks]
    if early:  # on the host, LXC_PID set: runtime.hooks (start-host)
        words = [os.path.abspath(sys.argv[0]), "--root", ctx.root, "run-hooks", "--kinds", ",".join(early), container_id]
        lines += "lxc.hook.start-host = " + " ".join(shlex.quote(w) for w in words) + "\n"
    if args.no_new_keyring:
        lines += "lxc.keyring.session = 0\n"
    try:
        os.mkdir(directory, 0o711)  # atomic: of two creates of one id, one gets here
        dirfd = oci_state.open_directory(ctx.root, container_id)
    except (FileExistsError, oci_state.NotFound):
        raise OciError(f"container with id exists: {container_id}") from None
    keeper = None
    try:
        if translation.seccomp is not None:
            oci_state.create_file(dirfd, "seccomp.profile", translation.seccomp)
            lines += f"lxc.seccomp.profile = {os.path.join(directory, 'seccomp.profile')}\n"
        oci_state.create_file(dirfd, oci_state.CONFIG, lines)
        data: dict[str, object] = {
            "id": container_id,
            "bundle": bundle,
            "rootfs": translation.rootfs,
            "created": oci_state.rfc3339(time.time()),
            "oci_version": translation.oci_version,
            "annotations": translation.annotations,
            "hooks": {k: [h.to_json() for h in v] for k, v in translation.hooks.items()},
            "process": translation.process,  # what exec without --process starts from
        }
        oci_state.write(ctx.root, container_id, data)
        oci_state.make_fifo(dirfd, translation.init_host_uid)
        if translation.terminal:  # runtime.spawn.exec_gate: the pty becomes the init's ctty
            oci_state.create_file(dirfd, oci_state.TERMINAL, "")
        keeper = oci_keeper.spawn(ctx.root, container_id)
        pid = _start(ctx, container_id, translation.argv, directory, args, translation)
        data["pid"] = pid
        data["keeper"] = keeper
        oci_state.write(ctx.root, container_id, data)
        if args.pid_file:
            _write_pid_file(args.pid_file, keeper)
    except BaseException as err:
        if keeper is not None:
            _stop_keeper(keeper)
        shutil.rmtree(directory, ignore_errors=True)
        if isinstance(err, (OSError, ValueError, OverflowError)):  # one line, never a traceback
            raise OciError(f"create: {err}") from None
        raise
    finally:
        os.close(dirfd)
    return 0


def _start(
    ctx: Context, container_id: str, argv: list[str], directory: str, args: argparse.Namespace,
    translation: object,
) -> int:  # fmt: skip
    """Ask the daemon for the start; the init's pid once it waits at the gate."""
    from runtime.client.control_protocol import Event, Start, Started, result
    from runtime.client.daemon_client import open_connection
    from runtime.client.errors import LxcError

    master = slave = -1
    if getattr(translation, "terminal", False):
        master, slave = os.openpty()
        size = getattr(translation, "console_size", None)
        if size:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        _send_console(args.console_socket, master)
    stdio = (slave, slave, slave) if slave >= 0 else (0, 1, 2)
    request = Start(
        name=container_id, mode="system", argv=tuple(argv),
        config_path=os.path.join(directory, oci_state.CONFIG), attach=False,
    )  # fmt: skip
    pid: int | None = None
    try:
        connection = open_connection(ctx.root)
        try:
            connection.send(request, stdio)
            while True:
                reply = connection.receive()
                if isinstance(reply, Started):
                    pid = reply.pid
                elif not isinstance(reply, Event):
                    result(request, reply)  # an error reply is raised
                    break
        finally:
            connection.close()
    except LxcError as err:
        raise OciError(str(err)) from None
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
    if pid is None:
        raise OciError("the runtime daemon did not report the container's pid")
    return pid


def _send_console(path: str, master: int) -> None:
    """runc's console socket protocol: the pty master in SCM_RIGHTS, its name as data."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(path)
        fds = array.array("i", [master]).tobytes()
        sock.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])


def _write_pid_file(path: str, pid: int) -> None:
    """Written whole, then renamed into place (the shim reads it at once). The
    temporary file is new (O_EXCL, as runc's): a link planted in its place is
    replaced, never written through; the rename replaces a link at `path` too."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(str(pid))
    os.rename(tmp, path)


def _stop_keeper(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
