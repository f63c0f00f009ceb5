"""`AsyncContainer`: the same container API as `Container`, for trio programs.

    import trio
    from runtime.api import AsyncContainer

    async def main():
        c = AsyncContainer("web1")
        await c.create("busybox")
        await c.start()
        print(await c.attach_wait(["hostname"]))
        await c.stop()
        await c.destroy()

    trio.run(main)

The method names, arguments and results are `Container`'s. What waits is a
coroutine: the daemon's operations (sharing the program's one connection to the
lxcpath's daemon, runtime.daemon.mux_client, so many can run at once), the store's (create, destroy, clone, rename: in a worker thread),
attaching (a trio child process), wait (the bus), the network look-ups. The
properties (`defined`, `running`, `state`, `init_pid`, `config_file_name`) and the
in-memory config items (`get_config_item`, `set_config_item`, ..., `save_config`)
read or write small local files and stay plain calls. Cancelling an attach sends
the attached command SIGTERM, then SIGKILL after five seconds.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Unpack

import trio

from runtime.api import attach as attaching
from runtime.api import requests
from runtime.api.base import ContainerBase, parse_states, wait_timeout
from runtime.api.container import Container
from runtime.client.control_protocol import Cgroup, Freeze, Unfreeze
from runtime.client.errors import LxcError

#: How long a cancelled attach's command gets between SIGTERM and SIGKILL.
ATTACH_GRACE = 5.0


class AsyncContainer(ContainerBase):
    """One container, trio calls (python3-lxc's names, arguments and results)."""

    def __init__(self, name: str, lxcpath: str | None = None, *, config_path: str | None = None) -> None:
        super().__init__(name, lxcpath, config_path=config_path)
        #: Holds console_getfd's leases (a blocking connection each, kept open).
        self._holder: Container | None = None

    # -- the store --------------------------------------------------------------------
    async def create(
        self,
        template: str | None = None,
        flags: int = 0,
        args: Iterable[str] | Mapping[str, str] = (),
        bdevtype: str | None = None,
        *,
        config_file: str | None = None,
    ) -> bool:
        """Container.create, in a worker thread."""
        return await trio.to_thread.run_sync(self._create, template, args, bdevtype, config_file)

    async def destroy(self) -> bool:
        """Container.destroy, in a worker thread."""
        return await trio.to_thread.run_sync(self._destroy)

    async def clone(
        self,
        newname: str,
        config_path: str | None = None,
        flags: int = 0,
        bdevtype: str | None = None,
        bdevdata: str | None = None,
        newsize: int = 0,
        hookargs: Sequence[str] = (),
        *,
        snapshot: bool = False,
    ) -> AsyncContainer | Literal[False]:
        """Container.clone, in a worker thread; the new AsyncContainer or False."""

        def copy() -> bool:
            return self._copy(
                newname, config_path, flags, hookargs, snapshot, rename=False, backing=bdevtype, fssize=newsize
            )

        if not await trio.to_thread.run_sync(copy):
            return False
        return AsyncContainer(newname, config_path or self.lxcpath)

    async def snapshot(self, comment_path: str | None = None) -> str | Literal[False]:
        """Container.snapshot, in a worker thread."""
        return await trio.to_thread.run_sync(self._snapshot, comment_path)

    async def snapshot_list(self) -> tuple[tuple[str, str | None, str, str], ...]:
        """Container.snapshot_list, in a worker thread."""
        return await trio.to_thread.run_sync(self._snapshot_list)

    async def snapshot_restore(self, name: str, newname: str | None = None) -> bool:
        """Container.snapshot_restore, in a worker thread."""
        return await trio.to_thread.run_sync(self._snapshot_restore, name, newname)

    async def snapshot_destroy(self, name: str) -> bool:
        """Container.snapshot_destroy, in a worker thread."""
        return await trio.to_thread.run_sync(self._snapshot_destroy, name)

    async def rename(self, new_name: str) -> AsyncContainer | Literal[False]:
        """Container.rename, in a worker thread; the new AsyncContainer or False."""

        def move() -> bool:
            return self._copy(new_name, None, 0, (), False, rename=True)

        if not await trio.to_thread.run_sync(move):
            return False
        return AsyncContainer(new_name, self.lxcpath)

    # -- life cycle (the daemon) --------------------------------------------------------
    async def start(
        self,
        useinit: bool = False,
        daemonize: bool = True,
        close_fds: bool = False,
        cmd: Sequence[str] | None = None,
    ) -> bool:
        """Container.start: True once it runs, False if it already ran."""
        if useinit:
            raise LxcError("start(useinit=True) is not supported; run the command with lxc-execute")
        config = self._start_config()
        if self.running:
            return False
        await requests.asend(self.lxcpath, requests.start(self.name, config, list(cmd) if cmd else None))
        if not daemonize:
            await self.wait("STOPPED")
        return True

    async def stop(self) -> bool:
        """Container.stop: killed, returns once STOPPED; False if it was not running."""
        if not self.running:
            return False
        await requests.asend(self.lxcpath, requests.stop(self.name, kill=True, timeout=0))
        return True

    async def shutdown(self, timeout: float = -1) -> bool:
        """Container.shutdown: True once STOPPED, False if not running or not in time."""
        if not self.running:
            return False
        message = requests.stop(self.name, timeout=timeout, nokill=True, nowait=timeout == 0)
        try:
            await requests.asend(self.lxcpath, message)
        except LxcError:
            if self.running:
                return False
            raise
        return not self.running

    async def reboot(self) -> bool:
        """Container.reboot: asks the init and returns (as python3-lxc's); False if it is not running."""
        if not self.running:
            return False
        await requests.asend(self.lxcpath, requests.stop(self.name, reboot=True, nowait=True))
        return True

    async def freeze(self) -> bool:
        """Container.freeze; False if it is not running."""
        if not self.running:
            return False
        await requests.asend(self.lxcpath, Freeze(name=self.name))
        return True

    async def unfreeze(self) -> bool:
        """Container.unfreeze; False if it is not running."""
        if not self.running:
            return False
        await requests.asend(self.lxcpath, Unfreeze(name=self.name))
        return True

    async def wait(self, state: str | Iterable[str], timeout: float = -1) -> bool:
        """Container.wait, on the bus: True once in `state`, False after `timeout`."""
        from runtime.client.state_wait import await_state

        states = parse_states(state)
        path = await requests.abus_path(self.lxcpath)  # starts the daemon if needed
        return await await_state(path, self.name, states, wait_timeout(timeout)) is not None

    # -- cgroups ----------------------------------------------------------------------------
    async def get_cgroup_item(self, key: str) -> str | Literal[False]:
        """Container.get_cgroup_item; False if it is not running."""
        if not self.running:
            return False
        reply = await requests.asend(self.lxcpath, Cgroup(name=self.name, key=key))
        return (reply.value or "").rstrip("\n")

    async def set_cgroup_item(self, key: str, value: str) -> bool:
        """Container.set_cgroup_item; False if it is not running."""
        if not self.running:
            return False
        await requests.asend(self.lxcpath, Cgroup(name=self.name, key=key, value=str(value)))
        return True

    # -- network ------------------------------------------------------------------------------
    async def get_ips(
        self,
        interface: str | None = None,
        family: str | None = None,
        scope: int | None = None,
        timeout: float = 0,
    ) -> tuple[str, ...]:
        """Container.get_ips (retried once a second up to `timeout`)."""
        deadline = trio.current_time() + timeout
        while True:
            found = await trio.to_thread.run_sync(self._ips_now, interface, family, scope)
            if found or trio.current_time() >= deadline:
                return found
            await trio.sleep(min(1.0, max(0.0, deadline - trio.current_time())))

    async def get_interfaces(self) -> tuple[str, ...]:
        """Container.get_interfaces."""
        return await trio.to_thread.run_sync(self._interfaces_now)

    # -- attach ------------------------------------------------------------------------------
    async def attach_wait(
        self,
        run: object,
        payload: object = None,
        *,
        stdin: attaching.Stdio = None,
        stdout: attaching.Stdio = None,
        stderr: attaching.Stdio = None,
        **options: Unpack[attaching.AttachOptions],
    ) -> int:
        """Container.attach_wait: the command's exit status (128+N for a signal)."""
        argv = self._attach_argv(run, payload, options)
        process = await trio.lowlevel.open_process(
            argv, stdin=attaching.fd_of(stdin), stdout=attaching.fd_of(stdout),
            stderr=attaching.fd_of(stderr),
        )  # fmt: skip
        return await _wait_process(process)

    async def attach_run(
        self,
        run: object,
        payload: object = None,
        *,
        stdin: attaching.Stdio = None,
        stderr: attaching.Stdio = None,
        **options: Unpack[attaching.AttachOptions],
    ) -> tuple[int, bytes]:
        """Container.attach_run: (exit status, the command's stdout)."""
        argv = self._attach_argv(run, payload, options)
        result = await trio.run_process(
            argv, stdin=attaching.fd_of(stdin), stderr=attaching.fd_of(stderr),
            capture_stdout=True, check=False, deliver_cancel=_terminate,
        )  # fmt: skip
        code = result.returncode
        return (128 - code if code < 0 else code), result.stdout

    async def attach(
        self,
        run: object,
        payload: object = None,
        *,
        stdin: attaching.Stdio = None,
        stdout: attaching.Stdio = None,
        stderr: attaching.Stdio = None,
        **options: Unpack[attaching.AttachOptions],
    ) -> int:
        """Container.attach: the pid of a child standing for the command (os.waitpid it)."""
        return attaching.spawn(self._attach_argv(run, payload, options), stdin, stdout, stderr)

    def _attach_argv(self, run: object, payload: object, options: attaching.AttachOptions) -> list[str]:
        if not self.running:
            raise LxcError(f"Failed to get init pid: {self.name} is not running")
        return attaching.lxc_attach_argv(self.lxcpath, self.name, attaching.command_of(run, payload), **options)

    # -- console -----------------------------------------------------------------------------
    async def console_getfd(self, ttynum: int = -1) -> int | Literal[False]:
        """Container.console_getfd (the lease lasts until close())."""
        if not self.running:
            return False
        if self._holder is None:
            self._holder = Container(self.name, self.lxcpath)
        return await trio.to_thread.run_sync(self._holder.console_getfd, ttynum)

    def close(self) -> None:
        """End the leases this object holds (console_getfd's terminals)."""
        if self._holder is not None:
            self._holder.close()


async def _terminate(process: trio.Process) -> None:
    """A cancelled attach: SIGTERM (lxc-attach passes it on), SIGKILL after a grace."""
    process.send_signal(signal.SIGTERM)
    with trio.move_on_after(ATTACH_GRACE):
        await process.wait()
        return
    process.kill()


async def _wait_process(process: trio.Process) -> int:
    try:
        status = await process.wait()
    except BaseException:
        with trio.CancelScope(shield=True):
            await _terminate(process)
            await process.wait()
        raise
    return 128 - status if status < 0 else status

