"""One container start, resolved once: what was asked (`StartArgs`) and what runs (`StartSpec`).

Why one spec: a start used to travel as a control dict, a supervisor object, a
spawn dict, a child request and a record dict, and its config file was parsed by
the client, the supervisor and the spawner, each of which could see a different
file. Now the daemon resolves the config exactly once per start (the file or the
volatile text, the `-s` defines, the mode, the choice of pid 1, the compiled
seccomp profile, container names of `lxc.namespace.share.*` turned into init
pids) into a frozen `StartSpec`. The supervisor, the cgroups, the network, the
hooks and the spawner all read that one object; the spawner receives it encoded
(`to_wire`) and decodes it typed (`from_wire`) without touching the config file,
so what the daemon validated is what the child sets up.

The choice of pid 1 (`pid1_argv`) is the daemon's too: a command asks with the
command line its user gave (possibly empty), and the daemon picks, as LXC does,
CMD, else `lxc.init.cmd`, else /sbin/init for a system container, and CMD else
`lxc.execute.cmd` for an application container.

A reboot resolves the same `StartArgs` again (the config may have changed, as in
LXC), and so does a daemon that re-adopts the container from its record.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from typing import TypeAlias

import attrs

from runtime.config.model import ContainerConfig

SYSTEM = "system"
APPLICATION = "application"
MODES = (SYSTEM, APPLICATION)
#: pid 1 of a system container when neither the command nor lxc.init.cmd names one.
DEFAULT_INIT = "/sbin/init"

#: The typed config, as every reader of a start sees it.
ConfigModel: TypeAlias = ContainerConfig


class StartRefused(Exception):
    """The config cannot be started as asked; the message is one line for the user."""


@attrs.frozen
class StartArgs:
    """A start as a command asked for it: kept for reboots and in the record.

    command: the command line as the user gave it (empty: the config decides).
    config_path: the config file; None for a volatile container given as
        `config_text`.
    """

    name: str
    mode: str
    command: tuple[str, ...] = ()
    config_path: str | None = None
    config_text: str | None = None
    defines: tuple[str, ...] = ()
    #: CLOCK_MONOTONIC ns of a traced start's request (0: untraced; runtime.kernel.start_trace).
    trace: int = 0

    def __attrs_post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")


@attrs.frozen
class StartSpec:
    """Everything a start needs from its config, resolved once in the daemon.

    argv: what runs: pid 1 of a system container, pid 2 (under trio-lxc-init) of
        an application container.
    config: the typed model, with `lxc.namespace.share.*` container names already
        replaced by their init pids. Nobody changes it after `resolve`.
    seccomp_bpf: the compiled lxc.seccomp.profile (None: no filter).
    """

    args: StartArgs
    lxcpath: str
    argv: tuple[str, ...]
    config: ConfigModel = attrs.field(repr=False)
    seccomp_bpf: bytes | None = attrs.field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.args.name

    @property
    def mode(self) -> str:
        return self.args.mode

    @property
    def config_path(self) -> str | None:
        return self.args.config_path

    @property
    def is_application(self) -> bool:
        return self.args.mode == APPLICATION


# -- resolving -----------------------------------------------------------------------


def load_config(args: StartArgs, warn: Callable[[str], None] | None = None) -> ConfigModel:
    """The typed config of `args`: file or text, then the defines; ConfigError if bad.

    Unsupported keys are refused here (`warn` gets what LXC only warns about), and a
    bad lxc.idmap set fails before anything is made.
    """
    from runtime.config import model
    from runtime.config.parser import apply_define, parse_file, parse_text
    from runtime.config.unsupported import check as refuse_unsupported
    from runtime.userns.maps import check_raw as check_idmaps

    if args.config_path is not None:
        raw = parse_file(args.config_path)
    else:
        raw = parse_text(args.config_text or "", "<volatile container>")
    for define in args.defines:
        apply_define(raw, define)
    for warning in refuse_unsupported(raw):  # seccomp notification, monitor and LSM keys
        if warn is not None:
            warn(warning)
    check_idmaps(raw)
    return model.from_raw(raw)


def resolve(
    args: StartArgs,
    lxcpath: str,
    *,
    running_init: Callable[[str], int | None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> StartSpec:
    """The start spec of `args`, or StartRefused naming the reason (nothing is made)."""
    from runtime.client.errors import ConfigError
    from runtime.seccomp.start import compile_for
    from runtime.spawn import share_names

    try:
        config = load_config(args, warn)
        bpf = compile_for(config, lxcpath, args.name)  # a bad profile: FILE:LINE
        shared = share_names.resolve(args.name, config, running_init)
    except (ConfigError, share_names.ShareError) as err:
        raise StartRefused(str(err)) from None
    share_names.apply(config, shared)  # container names become init pids, once
    argv = pid1_argv(args.mode, args.command, config)
    refuse_host_init(args.mode, argv, config)
    return StartSpec(args=args, lxcpath=lxcpath, argv=argv, config=config, seccomp_bpf=bpf)


def resolve_adopted(args: StartArgs, lxcpath: str, seccomp_bpf: bytes | None) -> StartSpec:
    """The spec of a container re-adopted alive: its config as it is now, the seccomp
    program it was started with (from its record). Nothing is refused: it runs
    already (ConfigError if the config no longer loads)."""
    config = load_config(args)
    try:
        argv = pid1_argv(args.mode, args.command, config)
    except StartRefused:
        argv = args.command
    return StartSpec(args=args, lxcpath=lxcpath, argv=argv, config=config, seccomp_bpf=seccomp_bpf)


def pid1_argv(mode: str, command: tuple[str, ...], config: ConfigModel) -> tuple[str, ...]:
    """What runs: the command, else lxc.init.cmd (system) or lxc.execute.cmd
    (application), else /sbin/init (system); StartRefused for an application
    container with none."""
    if command:
        return tuple(command)
    configured = config.init_cmd if mode == SYSTEM else config.execute_cmd
    if configured:
        return tuple(str(configured).split())  # LXC splits on blanks
    if mode == SYSTEM:
        return (DEFAULT_INIT,)
    raise StartRefused("no command to execute: give it after --, or set lxc.execute.cmd")


def refuse_host_init(mode: str, argv: tuple[str, ...], config: ConfigModel) -> None:
    """Never boot the host's own init on the host's root filesystem.

    A system container without lxc.rootfs.path runs on the host's root in a
    private mount namespace; its default pid 1, /sbin/init, would then be the
    host's init (systemd), which takes over the host's cgroup and mount trees.
    LXC lets that happen; we refuse and say what to do instead.
    """
    if mode != SYSTEM or config.rootfs_path:
        return
    if os.path.realpath(argv[0]) in _host_init_paths():
        raise StartRefused(
            "lxc.rootfs.path is not set, so pid 1 would be the host's own init "
            f"({argv[0]}) on the host's root filesystem; set lxc.rootfs.path or give "
            "a command (lxc-start -n NAME -- COMMAND)"
        )


def _host_init_paths() -> set[str]:
    paths = {os.path.realpath(DEFAULT_INIT)}
    try:
        paths.add(os.path.realpath(os.readlink("/proc/1/exe")))
    except OSError:
        pass
    return paths


# -- the wire (daemon -> spawner) ------------------------------------------------------


class WireError(ValueError):
    """An encoded spec that does not decode (a daemon/spawner version mismatch)."""


def to_wire(spec: StartSpec) -> dict[str, object]:
    """Plain JSON data for the spawner; `from_wire` gives back an equal spec."""
    from runtime.config import plain

    args = spec.args
    return {
        "name": args.name,
        "mode": args.mode,
        "command": list(args.command),
        "config_path": args.config_path,
        "config_text": args.config_text,
        "defines": list(args.defines),
        "lxcpath": spec.lxcpath,
        "argv": list(spec.argv),
        "config": plain.unstructure(spec.config),
        "seccomp_bpf": base64.b64encode(spec.seccomp_bpf).decode() if spec.seccomp_bpf else None,
    }


def from_wire(data: Mapping[str, object]) -> StartSpec:
    """The spec `to_wire` encoded, with its config typed again (no file is read)."""
    from runtime.config import model, plain

    try:
        args = StartArgs(
            name=_str(data, "name"),
            mode=_str(data, "mode"),
            command=_strs(data, "command"),
            config_path=_opt_str(data, "config_path"),
            config_text=_opt_str(data, "config_text"),
            defines=_strs(data, "defines"),
        )
        config: ConfigModel = plain.structure(data.get("config"), model.ContainerConfig)
        bpf = _opt_str(data, "seccomp_bpf")
        return StartSpec(
            args=args,
            lxcpath=_str(data, "lxcpath"),
            argv=_strs(data, "argv"),
            config=config,
            seccomp_bpf=base64.b64decode(bpf) if bpf else None,
        )
    except WireError:
        raise
    except Exception as err:  # noqa: BLE001 - plain.PlainError and base64 errors alike
        raise WireError(f"malformed start spec: {err}") from None


def warm_up() -> None:
    """Build the config's decoders now (the spawner calls it before its first fork)."""
    from runtime.config import model, plain

    plain.structure(plain.unstructure(model.loads("")), model.ContainerConfig)


def _str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise WireError(f"malformed start spec: {key!r} must be a string")
    return value


def _opt_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _str(data, key)


def _strs(data: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WireError(f"malformed start spec: {key!r} must be a list of strings")
    return tuple(str(item) for item in value)
