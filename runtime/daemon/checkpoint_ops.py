"""The daemon's `checkpoint` and `restore` requests (runtime/criu/checkpoint.py does criu).

Why in the daemon: a dump with `-s` ends the container, which its supervisor must
see and publish (STOPPING, STOPPED, clean-up); a restore must end in a supervisor
of its own that publishes STARTING and RUNNING and then watches the restored init
as it watches any other (the one a daemon restart re-adopts). criu runs as a child
process of the daemon (trio.run_process); nothing here blocks the event loop
except `criu check`, which runs in a worker thread.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import trio

from runtime.client import records
from runtime.client.control_protocol import Checkpoint, Done, ErrorReply, Restore, Restored
from runtime.criu import checkpoint as ck
from runtime.criu import checkpoint_trust
from runtime.daemon import lifecycle as lc
from runtime.daemon.op_reply import FAILED, NOT_RUNNING, OpError, answer

if TYPE_CHECKING:
    from runtime.daemon.app import Daemon

log = logging.getLogger(__name__)

_RUNNING = (lc.RUNNING, lc.FROZEN, lc.FREEZING, lc.THAWED)
#: How long a dump with -s may take to end the container once criu returned.
STOP_GRACE = 10.0


def _tail(directory: str, logname: str, stderr: bytes) -> str:
    """The last error line of criu's log (or its stderr) for the user."""
    text = ""
    try:
        with open(os.path.join(directory, logname), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        pass
    lines = [line.strip() for line in (text + stderr.decode(errors="replace")).splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line]
    return (errors or lines or ["criu failed"])[-1]


async def _check() -> None:
    reason = await trio.to_thread.run_sync(ck.problem)
    if reason:
        raise OpError(FAILED, reason)


async def request_checkpoint(daemon: Daemon, request: Checkpoint) -> Done | ErrorReply:
    """lxc-checkpoint's dump (fields checked by runtime.client.control_protocol)."""

    async def work() -> Done:
        name = request.name
        supervisor = daemon.supervisors.get(name)
        if supervisor is None or supervisor.state not in _RUNNING or not supervisor.pid:
            raise OpError(NOT_RUNNING, f"{name} not running, not checkpointing")
        await _check()
        directory = request.dir
        try:
            checkpoint_trust.check_dir(directory)
        except ck.CheckpointError as err:
            raise OpError(FAILED, f"Checkpointing {name} failed: {err}") from None
        made_dir = not os.path.isdir(directory)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        before = set(os.listdir(directory))
        record = supervisor.record().to_json()
        criu = ck.criu_path()
        assert criu is not None
        argv = ck.dump_argv(
            criu, supervisor.pid, record, directory,
            stop=request.stop, verbose=request.verbose,
            predump=request.predump, predump_dir=request.predump_dir,
            action_script=request.action_script,
        )  # fmt: skip
        try:
            try:
                ck.save_record(directory, record)
            except OSError as err:
                raise OpError(FAILED, f"Checkpointing {name} failed: {directory}/{ck.RECORD_FILE}: {err.strerror}") from None
            result = await trio.run_process(argv, check=False, capture_stderr=True, capture_stdout=True)
        except BaseException:
            ck.remove_dump(directory, made_dir, before)
            raise
        if result.returncode != 0:
            reason = _tail(directory, "dump.log", result.stderr)
            ck.remove_dump(directory, made_dir, before)
            raise OpError(FAILED, f"Checkpointing {name} failed: {reason}")
        if request.stop and not request.predump:
            with trio.move_on_after(STOP_GRACE):
                await supervisor.stopped.wait()
            if not supervisor.stopped.is_set():
                supervisor.kill()  # criu left it running: -s promises a stopped container
        return Done()

    return await answer(work)


async def request_restore(daemon: Daemon, request: Restore) -> Restored | ErrorReply:
    """criu restore, then a new supervisor (fields checked by runtime.client.control_protocol)."""

    async def work() -> Restored:
        from runtime.client.status import process_start_time
        from runtime.config.parser import parse_file
        from runtime.daemon.init_wait import open_pidfd
        from runtime.storage.store import rootfs_of

        name = request.name
        current = daemon.supervisors.get(name)
        if current is not None and current.state != lc.STOPPED:
            raise OpError(FAILED, f"{name} is running, not restoring")
        await _check()
        directory = request.dir
        try:
            checkpoint_trust.check_dir(directory)
            record = checkpoint_trust.rebuilt(ck.load_record(directory, name), name, daemon.lxcpath)
            records.ContainerRecord.from_json(record)  # a record this daemon can adopt
        except (ck.CheckpointError, records.RecordError) as err:
            raise OpError(FAILED, f"Restoring {name} failed: {err}") from None
        config_path = record.get("config_path") or os.path.join(daemon.lxcpath, name, "config")
        rootfs = rootfs_of(parse_file(str(config_path))) or os.path.join(daemon.lxcpath, name, "rootfs")
        criu = ck.criu_path()
        assert criu is not None
        argv = ck.restore_argv(
            criu, record, rootfs, directory, verbose=request.verbose,
            action_script=request.action_script,
        )  # fmt: skip
        ck.clear_pidfile(directory)
        daemon.publish_state(name, lc.STARTING)
        pid: int | None = None
        pidfd: int | None = None
        start_time: object = None
        try:
            try:
                result = await trio.run_process(argv, check=False, capture_stderr=True, capture_stdout=True)
            finally:
                # read (and removed) as soon as criu returned, the pidfd opened then
                pid = ck.take_pid(directory)
                if pid is not None:
                    start_time = process_start_time(pid)
                    pidfd = open_pidfd(pid, start_time if isinstance(start_time, int) else -1)
            if result.returncode != 0:
                raise OpError(FAILED, f"Restoring {name} failed: {_tail(directory, 'restore.log', result.stderr)}")
            if pid is None or pidfd is None:
                raise OpError(FAILED, f"Restoring {name} failed: the restored init {pid} is gone")
        except BaseException:
            if pidfd is not None:
                ck.kill_restored(pidfd)
                os.close(pidfd)
            daemon.publish_state(name, lc.STOPPED)
            raise
        restored = records.ContainerRecord.from_json(
            {**record, "name": name, "state": lc.RUNNING, "pid": pid, "pid_start_time": start_time}
        )
        records.write_record(daemon.lxcpath, name, restored)
        daemon.adopt(restored, pid, pidfd)
        daemon.publish_state(name, lc.RUNNING)
        return Restored(pid=pid)

    return await answer(work)
