"""`Container`: python3-lxc's `lxc.Container` for scripts (blocking, no trio needed).

    from runtime.api import Container

    c = Container("web1")                 # the commands' default lxcpath
    c.create("busybox")
    c.start()
    status = c.attach_wait(["hostname"])
    c.stop()
    c.destroy()

Daemon operations go through runtime.api.requests (the standard-library client the
commands use); the rest works on the container's files and runtime record. Which
results are bools and which failures raise: see runtime.api.base.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Unpack

from runtime.api import attach as attaching
from runtime.api import requests
from runtime.api.base import ContainerBase, parse_states, wait_timeout
from runtime.client.control_protocol import Cgroup, Freeze, Unfreeze
from runtime.client.errors import LxcError


class Container(ContainerBase):
    """One container, blocking calls (python3-lxc's names, arguments and results)."""

    def __init__(self, name: str, lxcpath: str | None = None, *, config_path: str | None = None) -> None:
        super().__init__(name, lxcpath, config_path=config_path)
        self._leases: list[requests.Lease] = []

    # -- the store --------------------------------------------------------------------
    def create(
        self,
        template: str | None = None,
        flags: int = 0,
        args: Iterable[str] | Mapping[str, str] = (),
        bdevtype: str | None = None,
        *,
        config_file: str | None = None,
    ) -> bool:
        """Create the container from `config_file` (else the default config) and the
        template (busybox, none, ...; `args` its options, a dict becomes `--key value`);
        items set before are saved into it. False if it is already defined."""
        return self._create(template, args, bdevtype, config_file)

    def destroy(self) -> bool:
        """Remove the container; False if it is running or not defined."""
        return self._destroy()

    def clone(
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
    ) -> Container | Literal[False]:
        """A copy named `newname` (in `config_path`, another lxcpath, if given); the
        new Container, or False if this one runs or is not defined.
        LXC_CLONE_KEEPNAME, LXC_CLONE_KEEPMACADDR as in LXC; LXC_CLONE_SNAPSHOT (or
        snapshot=True) makes an overlay clone (lxc-copy -s); `bdevtype` and `newsize`
        are lxc-copy's -B and --fssize."""
        if not self._copy(
            newname, config_path, flags, hookargs, snapshot, rename=False, backing=bdevtype, fssize=newsize
        ):
            return False
        return Container(newname, config_path or self.lxcpath)

    def snapshot(self, comment_path: str | None = None) -> str | Literal[False]:
        """lxc-snapshot: the new snapshot's name (snapN), its comment the text of
        `comment_path`; False if the container runs or is not defined."""
        return self._snapshot(comment_path)

    def snapshot_list(self) -> tuple[tuple[str, str | None, str, str], ...]:
        """lxc-snapshot -L: (name, comment file, timestamp, lxcpath) per snapshot."""
        return self._snapshot_list()

    def snapshot_restore(self, name: str, newname: str | None = None) -> bool:
        """lxc-snapshot -r: into the container `newname`, or in place when it is
        None (False if this one runs then)."""
        return self._snapshot_restore(name, newname)

    def snapshot_destroy(self, name: str) -> bool:
        """lxc-snapshot -d: one snapshot, or every one with "ALL"."""
        return self._snapshot_destroy(name)

    def rename(self, new_name: str) -> Container | Literal[False]:
        """Rename the container; the new Container, or False if it runs or is not defined."""
        if not self._copy(new_name, None, 0, (), False, rename=True):
            return False
        return Container(new_name, self.lxcpath)

    # -- life cycle (the daemon) --------------------------------------------------------
    def start(
        self,
        useinit: bool = False,
        daemonize: bool = True,
        close_fds: bool = False,
        cmd: Sequence[str] | None = None,
    ) -> bool:
        """Start the container (pid 1 `cmd`, else lxc.init.cmd, else /sbin/init) and
        return once it runs; False if it already runs. `daemonize=False` also waits
        until it stops. `useinit` (lxc-execute's init) is not supported: LxcError."""
        if useinit:
            raise LxcError("start(useinit=True) is not supported; run the command with lxc-execute")
        config = self._start_config()
        if self.running:
            return False
        requests.send(self.lxcpath, requests.start(self.name, config, list(cmd) if cmd else None))
        if not daemonize:
            self.wait("STOPPED")
        return True

    def stop(self) -> bool:
        """Kill the container at once and return once it is STOPPED; False if it was not running."""
        if not self.running:
            return False
        requests.send(self.lxcpath, requests.stop(self.name, kill=True, timeout=0))
        return True

    def shutdown(self, timeout: float = -1) -> bool:
        """Ask init to halt (lxc.signal.halt) and wait up to `timeout` seconds (for
        ever if negative; 0: do not wait); True once STOPPED, False if it was not
        running or did not stop in time (it is not killed: call stop())."""
        if not self.running:
            return False
        message = requests.stop(self.name, timeout=timeout, nokill=True, nowait=timeout == 0)
        try:
            requests.send(self.lxcpath, message)
        except LxcError:
            if self.running:
                return False
            raise
        return not self.running

    def reboot(self) -> bool:
        """Ask init to reboot (lxc.signal.reboot) and return at once, as python3-lxc's; False if it is not running."""
        if not self.running:
            return False
        requests.send(self.lxcpath, requests.stop(self.name, reboot=True, nowait=True))
        return True

    def freeze(self) -> bool:
        """Freeze every process of the container (returns once FROZEN); False if it is not running."""
        if not self.running:
            return False
        requests.send(self.lxcpath, Freeze(name=self.name))
        return True

    def unfreeze(self) -> bool:
        """Thaw a frozen container (returns once RUNNING); False if it is not running."""
        if not self.running:
            return False
        requests.send(self.lxcpath, Unfreeze(name=self.name))
        return True

    def wait(self, state: str | Iterable[str], timeout: float = -1) -> bool:
        """True once the container is in `state` (a name, `A|B`, or several), at once
        if it already is; False when `timeout` seconds pass first (negative: for ever)."""
        from runtime.client.state_wait import wait_for

        states = parse_states(state)
        code = wait_for(lambda: requests.bus_path(self.lxcpath), self.name, states, wait_timeout(timeout))
        return code == 0

    # -- cgroups ----------------------------------------------------------------------------
    def get_cgroup_item(self, key: str) -> str | Literal[False]:
        """A cgroup file of the running container (`memory.max`), without its final
        newline; False if it is not running."""
        if not self.running:
            return False
        reply = requests.send(self.lxcpath, Cgroup(name=self.name, key=key))
        return (reply.value or "").rstrip("\n")

    def set_cgroup_item(self, key: str, value: str) -> bool:
        """Write a cgroup file of the running container; False if it is not running."""
        if not self.running:
            return False
        requests.send(self.lxcpath, Cgroup(name=self.name, key=key, value=str(value)))
        return True

    # -- network ------------------------------------------------------------------------------
    def get_ips(
        self,
        interface: str | None = None,
        family: str | None = None,
        scope: int | None = None,
        timeout: float = 0,
    ) -> tuple[str, ...]:
        """The container's addresses, IPv4 first (no `lo`, no IPv6 link-local unless
        `interface`/`scope` ask); `family` "inet" or "inet6". With `timeout`, retried
        once a second while there are none. Empty when it is not running."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._ips_now(interface, family, scope)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def get_interfaces(self) -> tuple[str, ...]:
        """The container's interface names (with `lo`), sorted; empty when it is not running."""
        return self._interfaces_now()

    # -- attach ------------------------------------------------------------------------------
    def attach_wait(
        self,
        run: object,
        payload: object = None,
        *,
        stdin: attaching.Stdio = None,
        stdout: attaching.Stdio = None,
        stderr: attaching.Stdio = None,
        **options: Unpack[attaching.AttachOptions],
    ) -> int:
        """Run a command in the container and wait: its exit status (128+N when a
        signal ended it; python3-lxc returns the raw wait status instead, 0 alike).
        `run`: a list or string, or python3-lxc's attach_run_command with the
        command as `payload`, or attach_run_shell. Options (python3-lxc's): env
        (a dict or VAR=VALUE list), env_policy, extra_env_vars, extra_keep_env,
        uid, gid, namespaces, attach_flags; stdin/stdout/stderr: fds or files."""
        argv = self._attach_argv(run, payload, options)
        pid = attaching.spawn(argv, stdin, stdout, stderr)
        return attaching.exit_code(_wait_pid(pid))

    def attach_run(
        self,
        run: object,
        payload: object = None,
        *,
        stdin: attaching.Stdio = None,
        stderr: attaching.Stdio = None,
        **options: Unpack[attaching.AttachOptions],
    ) -> tuple[int, bytes]:
        """attach_wait that captures the command's output: (exit status, stdout bytes)."""
        argv = self._attach_argv(run, payload, options)
        result = subprocess.run(
            argv, stdin=attaching.fd_of(stdin), stdout=subprocess.PIPE,
            stderr=attaching.fd_of(stderr), check=False,
        )  # fmt: skip
        code = result.returncode
        return (128 - code if code < 0 else code), result.stdout

    def attach(
        self,
        run: object,
        payload: object = None,
        *,
        stdin: attaching.Stdio = None,
        stdout: attaching.Stdio = None,
        stderr: attaching.Stdio = None,
        **options: Unpack[attaching.AttachOptions],
    ) -> int:
        """Start a command in the container without waiting: a pid (this process's
        child) whose exit status is the command's and which passes signals on to it;
        collect it with os.waitpid."""
        return attaching.spawn(self._attach_argv(run, payload, options), stdin, stdout, stderr)

    def _attach_argv(self, run: object, payload: object, options: attaching.AttachOptions) -> list[str]:
        if not self.running:
            raise LxcError(f"Failed to get init pid: {self.name} is not running")
        return attaching.lxc_attach_argv(
            self.lxcpath, self.name, attaching.command_of(run, payload), **options
        )

    # -- console -----------------------------------------------------------------------------
    def console_getfd(self, ttynum: int = -1) -> int | Literal[False]:
        """An fd on tty `ttynum` of the running container (-1: the first free one,
        0: the console); False if it is not running. The terminal stays leased to
        this object (another console_getfd or lxc-console is refused it) until
        close(); the caller closes the fd."""
        if not self.running:
            return False
        lease, fd = requests.lease_console(self.lxcpath, self.name, ttynum)
        self._leases.append(lease)
        return fd

    def close(self) -> None:
        """End the leases this object holds (console_getfd's terminals)."""
        while self._leases:
            self._leases.pop().close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _wait_pid(pid: int) -> int:
    """Wait for our lxc-attach child; an interrupt is passed on to it (it passes it
    to the attached command) and the wait goes on, so nothing is left behind."""
    import signal

    try:
        return os.waitpid(pid, 0)[1]
    except BaseException:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        raise
