"""What the spawner hands a freshly forked container child: `ChildRequest`.

A plain class, not attrs: it is built in the spawner and read in the child only,
never written to disk, and it holds live objects (a socket, fds) that have no
serial form. Its fields come from the start spec the daemon resolved
(runtime.spawn.start_spec.StartSpec, decoded typed by the spawner from the spawn
message, runtime.spawn.messages): the config arrives typed and neither the
spawner nor the child reads the config file, so what the daemon validated is
exactly what runs.
"""

from __future__ import annotations

import socket

from runtime.spawn.start_spec import APPLICATION, MODES, SYSTEM, ConfigModel

__all__ = ["APPLICATION", "MODES", "SYSTEM", "ChildRequest"]


class ChildRequest:
    """One container start, as the forked child sees it.

    name: the container's name (the default hostname, and the prefix of messages).
    lxcpath: the container's lxcpath (a relative `lxc.mount.fstab` is taken relative
        to `<lxcpath>/<name>`).
    mode: "system" (argv is exec'd as pid 1) or "application" (an lxc-init-like
        reaper is pid 1 and argv runs as pid 2).
    argv: the command; the daemon has already chosen CMD, else `lxc.init.cmd`,
        else `/sbin/init` (runtime.spawn.start_spec.pid1_argv).
    config: the typed `ContainerConfig`. A `lxc.namespace.share.*` value naming a
        container must already be replaced by that container's init pid (the
        daemon did it: runtime.spawn.start_spec.resolve).
    sync: the child's end of a SOCK_SEQPACKET socketpair; the daemon holds the other
        end (messages: `runtime.spawn.handshake`).
    stdio: three fds that become 0, 1 and 2 of the payload (and of pid 1 in
        application mode). No other fd of the host ever reaches the container.
    init_image: application mode only: the bytes of the trio-lxc-init program
        (`runtime.spawn.initexe.load_image`), which pid 1 execs from a sealed memfd
        copy. Its exit status (N, or 128+N for signal N) is how the application's
        status reaches the daemon; None refuses an application container.
    host_root: the directory that stands for the host's root; a container without
        `lxc.rootfs.path` runs on it (in a private mount namespace).
    environ: the environment of the client that asked for the start; an
        `lxc.environment` entry that is a bare NAME takes its value from here
        (skipped when absent).
    console: host path of a terminal (pty slave) to bind-mount on /dev/console of a
        container with a rootfs; None leaves /dev/console alone.
    ttys: host paths of terminals to bind-mount on /dev/tty1..N (or under
        /dev/<lxc.tty.dir>/ with /dev/ttyN links) of a container with a rootfs.
    hook_env: LXC's variables for the hooks the child runs (`runtime.hooks.plan`),
        made by the daemon; hook_timeout: the bound of each (None: the default).
    seccomp_bpf: the compiled lxc.seccomp.profile (runtime.seccomp), loaded by the
        child last while root (runtime.spawn.seccomp_load); None: no filter.
    cgroup_join: the container's v1 cgroup directories the child joins itself when
        it is the init (runtime.spawn.cgroup_join); cgroup_joined: the cgroup2
        directory the spawner already made it in (CLONE_INTO_CGROUP), if any.
    """

    __slots__ = (
        "name",
        "lxcpath",
        "mode",
        "argv",
        "config",
        "sync",
        "stdio",
        "init_image",
        "host_root",
        "environ",
        "console",
        "ttys",
        "hook_env",
        "hook_timeout",
        "seccomp_bpf",
        "cgroup_join",
        "cgroup_joined",
    )

    def __init__(
        self,
        *,
        name: str,
        lxcpath: str,
        mode: str,
        argv: list[str],
        config: ConfigModel,
        sync: socket.socket,
        stdio: tuple[int, int, int],
        init_image: bytes | None = None,
        host_root: str = "/",
        environ: dict[str, str] | None = None,
        console: str | None = None,
        ttys: tuple[str, ...] = (),
        hook_env: dict[str, str] | None = None,
        hook_timeout: float | None = None,
        seccomp_bpf: bytes | None = None,
        cgroup_join: tuple[str, ...] = (),
        cgroup_joined: tuple[str, ...] = (),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if len(stdio) != 3:
            raise ValueError("stdio must be three fds (stdin, stdout, stderr)")
        self.name = name
        self.lxcpath = lxcpath
        self.mode = mode
        self.argv = list(argv)
        self.config = config
        self.sync = sync
        self.stdio = stdio
        self.init_image = init_image
        self.host_root = host_root
        self.environ = environ
        self.console = console
        self.ttys = tuple(ttys)
        self.hook_env = hook_env
        self.hook_timeout = hook_timeout
        self.seccomp_bpf = seccomp_bpf
        self.cgroup_join = cgroup_join
        self.cgroup_joined = cgroup_joined

    @property
    def is_application(self) -> bool:
        return self.mode == APPLICATION

    def __repr__(self) -> str:
        return (
            f"ChildRequest(name={self.name!r}, mode={self.mode!r}, argv={self.argv!r}, "
            f"stdio={self.stdio!r}, host_root={self.host_root!r})"
        )
