"""What a hook runs and with what: command line, environment, bound, failure reason.

Facts checked against LXC 5.0.2 on this kind of machine (a hook that dumps `$@`,
`env`, `/proc/self/ns/*`, `pwd` and `/` under `/usr/bin/lxc-start`):

- The value is run as `/bin/sh -c "exec VALUE [ARGS]"`: shell quoting in the
  value is honoured (`/x.sh a "b c"` gives two arguments) and anything after a
  `;` never runs (`exec` replaced the shell). So does ours. LXC pastes the extra
  arguments unquoted (a clone hook argument `a b` arrives as two); we quote each
  one, so an argument arrives as given.
- `lxc.hook.version = 0` (the default) appends `NAME lxc TYPE` (and the stop hook's
  `ns:PATH` words, the clone hook's `lxc-copy -- ARGS`); version 1 appends only the
  clone hook's arguments and sets `LXC_HOOK_TYPE` and `LXC_HOOK_SECTION` instead.
- Every start-time hook gets `LXC_NAME`, `LXC_CONFIG_FILE`, `LXC_ROOTFS_PATH`
  (without `dir:`), `LXC_ROOTFS_MOUNT`, `LXC_HOOK_VERSION`, `LXC_CGNS_AWARE=1`,
  `LXC_LOG_LEVEL` (lxc.log.level by name, ERROR by default), `LXC_CONSOLE` and
  `LXC_CONSOLE_LOGPATH` when set; start-host, stop and post-stop add `LXC_PID`;
  stop and post-stop add `LXC_TARGET` (`stop` or `reboot`); the stop hook gets
  `LXC_<NS>_NS=/proc/PID/fd/N` for each namespace of the container (whatever the
  version), and with version 0 the words `mnt:/proc/PID/fd/N ...` as arguments,
  in LXC's order (mnt pid uts ipc user net cgroup time).
- clone (lxc-copy) gets `LXC_NAME` (the copy), `LXC_SRC_NAME`, `LXC_CONFIG_FILE`,
  `LXC_ROOTFS_PATH` (the copy's lxc.rootfs.path as written, `dir:` included) and
  `LXC_ROOTFS_MOUNT` (the copy's rootfs directory); destroy (lxc-destroy) gets
  `LXC_NAME`, `LXC_CONFIG_FILE`, `LXC_ROOTFS_PATH`, `LXC_ROOTFS_MOUNT`. Neither
  gets `LXC_HOOK_VERSION`, `LXC_CGNS_AWARE` or `LXC_LOG_LEVEL`, as with LXC.

Where we differ on purpose: LXC gives hooks the environment of the `lxc-start`
that started the container. The daemon that runs ours is shared by every command,
so that environment is not at hand; the hooks it runs get `PATH` (the daemon's)
plus LXC's variables and nothing else. That also keeps whatever the caller's
environment holds out of the `start` hook, which runs inside the container.

The bound: a hook that has not exited after `hook_timeout()` seconds (60, or
`TRIO_LXC_HOOK_TIMEOUT` in the daemon's or the command's environment) is killed with
SIGKILL, with everything in its session, and fails.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

from runtime.client.errors import printable_line

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

SECTION = "lxc"
#: Run by the container child (runtime.spawn.hooks_child).
CHILD_TYPES = ("pre-mount", "mount", "autodev", "start")

DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "TRIO_LXC_HOOK_TIMEOUT"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHELL = "/bin/sh"
#: How much of a hook's output is kept for the log and the failure reason.
OUTPUT_TAIL = 64 * 1024

#: The namespaces the stop hook is told about, in LXC's order, and their variable names.
NAMESPACE_ORDER = ("mnt", "pid", "uts", "ipc", "user", "net", "cgroup", "time")
NAMESPACE_VARS = {
    "mnt": "LXC_MNT_NS", "pid": "LXC_PID_NS", "uts": "LXC_UTS_NS", "ipc": "LXC_IPC_NS",
    "user": "LXC_USER_NS", "net": "LXC_NET_NS", "cgroup": "LXC_CGROUP_NS", "time": "LXC_TIME_NS",
}  # fmt: skip
_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "CRIT", "ALERT", "FATAL")
_ROOTFS_PREFIX = "dir:"


def hook_timeout(environ: dict[str, str] | None = None) -> float:
    """Seconds a hook may run: TRIO_LXC_HOOK_TIMEOUT when a positive number, else 60."""
    value = (os.environ if environ is None else environ).get(TIMEOUT_ENV, "")
    try:
        seconds = float(value)
    except ValueError:
        return DEFAULT_TIMEOUT
    return seconds if seconds > 0 else DEFAULT_TIMEOUT


def commands(config: ContainerConfig, kind: str) -> list[str]:
    """The hook values of `kind`, in file order (`lxc.hook.KIND`)."""
    return [str(value) for value in config.hook.get(kind) or ()]


def has(config: ContainerConfig, *kinds: str) -> bool:
    return any(commands(config, kind) for kind in kinds)


def count(config: ContainerConfig, kinds: tuple[str, ...]) -> int:
    return sum(len(commands(config, kind)) for kind in kinds)


def version1(config: ContainerConfig) -> bool:
    return bool(config.hook_version)


def rootfs_directory(value: str | None) -> str | None:
    """lxc.rootfs.path without the `dir:` prefix (None when unset)."""
    if not value:
        return None
    return value[len(_ROOTFS_PREFIX) :] if value.startswith(_ROOTFS_PREFIX) else value


def log_level_name(value: str | None) -> str:
    """lxc.log.level as LXC names it in LXC_LOG_LEVEL (ERROR when unset)."""
    if not value:
        return "ERROR"
    if value.isdigit() and int(value) < len(_LOG_LEVELS):
        return _LOG_LEVELS[int(value)]
    return value.upper()


def start_environment(*, name: str, config: ContainerConfig, config_path: str | None) -> dict[str, str]:
    """The variables every start-time hook gets (before the per-hook ones)."""
    env = {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "LXC_NAME": name,
        "LXC_HOOK_VERSION": "1" if version1(config) else "0",
        "LXC_CGNS_AWARE": "1",
        "LXC_LOG_LEVEL": log_level_name(config.log_level),
    }
    if config_path:
        env["LXC_CONFIG_FILE"] = config_path
    rootfs = rootfs_directory(config.rootfs_path)
    if rootfs:
        env["LXC_ROOTFS_PATH"] = rootfs
        from runtime.storage.spec import directory_of  # overlay/loop: where it is mounted

        env["LXC_ROOTFS_MOUNT"] = config.rootfs_mount or directory_of(config.rootfs_path) or rootfs
    if config.console_path:
        env["LXC_CONSOLE"] = config.console_path
    if config.console_logfile:
        env["LXC_CONSOLE_LOGPATH"] = config.console_logfile
    return env


def invocation(
    command: str,
    kind: str,
    *,
    name: str,
    version_1: bool,
    env: dict[str, str],
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] | list[str] = (),
    args_v0_only: tuple[str, ...] | list[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of one hook run.

    `args` follow in both versions (the clone hook's `lxc-copy -- ARGS`);
    `args_v0_only` only with version 0 (the stop hook's `ns:PATH` words).
    """
    words: list[str] = []
    full_env = dict(env)
    if extra_env:
        full_env.update(extra_env)
    if version_1:
        full_env["LXC_HOOK_TYPE"] = kind
        full_env["LXC_HOOK_SECTION"] = SECTION
    else:
        words += [name, SECTION, kind, *args_v0_only]
    words += list(args)
    line = "exec " + command + "".join(" " + shlex.quote(word) for word in words)
    return [SHELL, "-c", line], full_env


def namespace_words(paths: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The stop hook's `ns:PATH` arguments and `LXC_<NS>_NS` variables, in LXC's order."""
    words = [f"{ns}:{paths[ns]}" for ns in NAMESPACE_ORDER if ns in paths]
    env = {NAMESPACE_VARS[ns]: paths[ns] for ns in NAMESPACE_ORDER if ns in paths}
    return words, env


def key(kind: str) -> str:
    return f"lxc.hook.{kind}"


def last_line(output: bytes) -> str:
    """The last non-empty line of a hook's output, printable and short."""
    for raw in reversed(output.splitlines()):
        text = raw.decode("utf-8", errors="replace").strip()
        if text:
            return printable_line(text, 200)
    return ""


def failure(
    kind: str, command: str, status: int | None, timed_out: bool, timeout: float, output: bytes
) -> str | None:
    """The reason a run failed (naming the key), or None when it exited 0.

    `status` is a wait status (None: it could not be started at all, the reason
    then being in `output`).
    """
    if timed_out:
        reason = f"'{command}' did not exit within {timeout:g} s and was killed (SIGKILL)"
    elif status is None:
        reason = f"'{command}' could not be run"
    elif os.WIFSIGNALED(status):
        reason = f"'{command}' was killed by signal {os.WTERMSIG(status)}"
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        reason = f"'{command}' exited with status {os.WEXITSTATUS(status)}"
    else:
        return None
    tail = last_line(output)
    return f"{key(kind)}: {reason}" + (f": {tail}" if tail else "")
