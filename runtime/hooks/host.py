"""The host-side hooks of one container, run by its supervisor task in the daemon.

pre-start (before the cgroups, in the host's namespaces), start-host (once the init
exists and before it execs: the child asks for it with one more handshake step,
sent only when such hooks exist), stop (after the container's processes are gone
and its network devices are removed, told the container's namespaces), post-stop
(after the cgroups are removed, just before STOPPED). Each hook runs with
`trio.lowlevel.open_process` in the supervisor's task, so the daemon's event loop
never blocks; its output goes to the daemon log, line by line, and the last line
into the reason of a failure.

The stop hook's namespaces: the container's init is gone when it runs, so while
the container lives the daemon holds an fd of each of its namespaces (those that
differ from the daemon's own), opened when the init reports its pid (cgroup:
once the start completed, the init unshares it only after "go"); the hook is
given `/proc/<daemon pid>/fd/N` as LXC gives `/proc/<monitor pid>/fd/N`. Only a
config with stop hooks makes the daemon hold them (a held network namespace keeps
its devices until the hook is done).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from typing import TYPE_CHECKING

import trio

from runtime.hooks import plan

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

log = logging.getLogger("trio-lxc.hooks")


class HookFailed(Exception):
    """A hook exited non-zero, was killed, or did not finish in time; the message
    names the key, the command and the last line of its output."""


class ContainerHooks:
    """The hooks of one start of one container, and the namespace fds of the stop hook."""

    def __init__(
        self, *, name: str, config: ContainerConfig, config_path: str | None, timeout: float | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.version_1 = plan.version1(config)
        self.timeout = plan.hook_timeout() if timeout is None else timeout
        self.env = plan.start_environment(name=name, config=config, config_path=config_path)
        self.pid: int | None = None
        #: namespace type -> fd held for the stop hook.
        self.ns_fds: dict[str, int] = {}

    def has(self, *kinds: str) -> bool:
        return plan.has(self.config, *kinds)

    # -- what the start path needs ---------------------------------------------------
    def handshake_budget(self) -> float:
        """Extra seconds the set-up handshake may take: every hook that runs inside it
        (the child's pre-mount, mount, autodev and start, and start-host) may use its
        whole bound before it is killed."""
        return self.timeout * plan.count(self.config, (*plan.CHILD_TYPES, "start-host"))

    def request_fields(self) -> dict[str, object]:
        """What the container child needs to run its hooks (nothing without any)."""
        if not self.has(*plan.CHILD_TYPES, "start-host"):
            return {}
        return {"hook_env": dict(self.env), "hook_timeout": self.timeout}

    def init_started(self, pid: int) -> None:
        """The init's pid is known: LXC_PID from now on; hold its namespaces for stop."""
        self.pid = pid
        if self.has("stop"):
            self.hold_namespaces(pid)

    def hold_namespaces(self, pid: int) -> None:
        """An fd of each namespace of `pid` that is not the daemon's own (again: adds
        those it did not have yet, such as the cgroup namespace made after "go")."""
        for ns in plan.NAMESPACE_ORDER:
            if ns in self.ns_fds:
                continue
            try:
                if os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino:
                    continue
                self.ns_fds[ns] = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue  # gone already, or a namespace type this kernel lacks

    def close(self) -> None:
        for fd in self.ns_fds.values():
            os.close(fd)
        self.ns_fds = {}

    # -- running -----------------------------------------------------------------------
    async def pre_start(self) -> None:
        await self.run("pre-start")

    async def start_host(self) -> None:
        await self.run("start-host", self._pid_env())

    async def stop(self, target: str) -> None:
        """The stop hooks (failures are logged: the container is down already)."""
        if not self.has("stop"):
            return
        paths = {ns: f"/proc/{os.getpid()}/fd/{fd}" for ns, fd in self.ns_fds.items()}
        words, ns_env = plan.namespace_words(paths)
        env = {**self._pid_env(), "LXC_TARGET": target, **ns_env}
        await self._run_logged("stop", env, words)

    async def post_stop(self, target: str) -> None:
        if self.has("post-stop"):
            await self._run_logged("post-stop", {**self._pid_env(), "LXC_TARGET": target}, [])

    async def _run_logged(self, kind: str, env: dict[str, str], words: list[str]) -> None:
        try:
            await self.run(kind, env, words, keep_going=True)
        except HookFailed as err:
            log.warning("%s: %s", self.name, err)

    def _pid_env(self) -> dict[str, str]:
        return {"LXC_PID": str(self.pid)} if self.pid is not None else {}

    async def run(
        self,
        kind: str,
        extra_env: dict[str, str] | None = None,
        v0_words: list[str] | None = None,
        keep_going: bool = False,
    ) -> None:
        """Every hook of `kind` in file order; HookFailed at the first failure (or,
        with `keep_going`, after running them all, naming the first)."""
        first: HookFailed | None = None
        for command in plan.commands(self.config, kind):
            argv, env = plan.invocation(
                command, kind, name=self.name, version_1=self.version_1, env=self.env,
                extra_env=extra_env, args_v0_only=v0_words or (),
            )  # fmt: skip
            log.info("%s: running %s '%s'", self.name, plan.key(kind), command)
            reason = await run_one(argv, env, self.timeout, kind, command, self.name)
            if reason is None:
                continue
            if not keep_going:
                raise HookFailed(reason)
            first = first or HookFailed(reason)
        if first is not None:
            raise first


async def run_one(
    argv: list[str], env: dict[str, str], timeout: float, kind: str, command: str, name: str
) -> str | None:
    """Run one hook; its output to the daemon log; the failure reason or None.

    Done when the hook exits: what it wrote is in the pipe already and is read, but
    a background process it left holding the pipe is not waited for. At `timeout`
    its whole session is killed with SIGKILL.
    """
    try:
        process = await trio.lowlevel.open_process(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, cwd="/", start_new_session=True,
        )  # fmt: skip
    except OSError as err:
        return plan.failure(
            kind, command, None, False, timeout, os.strerror(err.errno or 0).encode()
        )
    stdout = process.stdout
    assert isinstance(stdout, trio.lowlevel.FdStream)
    lines = _OutputLog(name, kind)
    timed_out = False
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read_output, stdout, lines)
            with trio.move_on_after(timeout) as scope:
                await process.wait()
            if scope.cancelled_caught:
                timed_out = True
                _kill_session(process.pid)
                with trio.CancelScope(shield=True):
                    await process.wait()
            nursery.cancel_scope.cancel()
    finally:
        _drain(stdout.fileno(), lines)
        lines.flush()
        with trio.CancelScope(shield=True):
            await stdout.aclose()
    code = process.returncode
    assert code is not None
    status = (-code) & 0x7F if code < 0 else (code & 0xFF) << 8
    return plan.failure(kind, command, status, timed_out, timeout, bytes(lines.tail))


class _OutputLog:
    """A hook's output: each line to the daemon log (as LXC logs it), the tail kept."""

    def __init__(self, name: str, kind: str) -> None:
        self.prefix = f"{name}: {plan.key(kind)}: "
        self.tail = bytearray()
        self.partial = b""

    def feed(self, data: bytes | bytearray) -> None:
        self.tail += data
        if len(self.tail) > 2 * plan.OUTPUT_TAIL:
            del self.tail[: -plan.OUTPUT_TAIL]
        *complete, self.partial = (self.partial + data).split(b"\n")
        for line in complete:
            self._log(line)
        if len(self.partial) > plan.OUTPUT_TAIL:
            self._log(self.partial)
            self.partial = b""

    def flush(self) -> None:
        if self.partial:
            self._log(self.partial)
            self.partial = b""

    def _log(self, line: bytes) -> None:
        log.info("%s%s", self.prefix, line.decode("utf-8", errors="replace").rstrip())


async def _read_output(stream: trio.abc.ReceiveStream, lines: _OutputLog) -> None:
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        lines.feed(data)


def _drain(fd: int, lines: _OutputLog) -> None:
    """Whatever is left in the pipe (non-blocking: trio set O_NONBLOCK on it), at most
    a few tails' worth: a background process of the hook may still be writing."""
    for _ in range(4 * plan.OUTPUT_TAIL // 65536 + 1):
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        lines.feed(data)


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
