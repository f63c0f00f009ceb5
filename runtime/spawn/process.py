"""The payload's process: fds, signals, environment, limits, credentials, exec.

What a container's first process inherits is decided here, each piece from its
config key:
- fds: exactly the stdio the daemon passed, as 0, 1 and 2; every other fd of the
  spawner is closed (only the sync socket survives, close-on-exec, until the
  payload starts; in application mode also the init's memfd and a pipe, both
  close-on-exec). Inside, /proc/self/fd and /proc/1/fd show 0 1 2 only.
- signals: every disposition back to SIG_DFL and an empty mask (a forked Python
  process ignores SIGPIPE and SIGXFSZ, and `exec` keeps ignored signals ignored).
- environment: exactly `container=lxc` plus lxc.environment (`NAME=VALUE`, or a
  bare `NAME` taking the client's value when the daemon passed the client's
  environment); nothing of the daemon's environment leaks in. LXC gives an
  application exactly `container=lxc` too (see the reference).
- umask 022, whatever the daemon's own is.
- lxc.sysctl.* (written to /proc/sys/ with dots as slashes) and lxc.proc.* (written
  to /proc/self/) are applied before pivot_root through the host's /proc: the
  namespaced sysctls (net, ipc, uts) act on the namespaces of the writer, so this
  needs no /proc inside the container and is not stopped by proc:mixed's
  read-only /proc/sys. A non-namespaced sysctl changes the host, as in LXC. The
  name is checked again here and the file opened beneath its directory without
  following symlinks, so no name can reach another file of the host.
- lxc.prlimit.* with prlimit(2); lxc.init.groups/gid/uid (supplementary groups are
  always replaced, so the daemon's never leak in); lxc.cap.drop / lxc.cap.keep on
  the bounding set, and the same capabilities removed from the permitted,
  effective and inheritable sets and every ambient capability cleared;
  lxc.no_new_privs last.
- exec searches PATH of the container's environment, else a standard PATH (glibc's
  default of /bin:/usr/bin misses the sbin directories).
"""

from __future__ import annotations

import _signal  # the C half of `signal`, without its enums (.ci/stubs/_signal.pyi)
import errno
import fcntl
import os
import resource
import signal
import termios
from collections.abc import Iterable
from typing import TYPE_CHECKING

from runtime.config.names import proc_file_problem, shown, sysctl_problem
from runtime.config.values import CAPABILITIES
from runtime.kernel import linux
from runtime.spawn.errors import SetupError, describe_os_error

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAP_SYS_ADMIN = CAPABILITIES.index("sys_admin")

#: lxc.prlimit.NAME -> RLIMIT_* (resource names as in prlimit(1) and LXC).
RLIMITS: dict[str, int] = {
    name: getattr(resource, "RLIMIT_" + name.upper())
    for name in (
        "as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime "
        "sigpending stack"
    ).split()
    if hasattr(resource, "RLIMIT_" + name.upper())
}


# -- fds and signals ----------------------------------------------------------------


def close_all_except(keep: Iterable[int]) -> None:
    """Close every fd of the process but `keep` (close_range between the kept ones)."""
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 2**31 - 1)


def arrange_fds(stdio: tuple[int, int, int], keep: list[int]) -> list[int]:
    """Make `stdio` fds 0, 1, 2 and keep `keep` (renumbered, close-on-exec); close the rest.

    Everything is first copied above 2, so a kept fd that happens to be 0, 1 or 2
    survives the dup2 onto those numbers. Returns the new numbers of `keep`.
    """
    moved_keep = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in keep]
    moved_stdio = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for number, fd in enumerate(moved_stdio):
        os.dup2(fd, number, inheritable=True)
    close_all_except([0, 1, 2, *moved_keep])
    return moved_keep


def reset_signals() -> None:
    """Default dispositions, empty mask, no Python wakeup fd: a clean slate for exec."""
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    for number in range(1, signal.NSIG):
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            # Python's table mirrors the kernel's (read at start-up, kept by every
            # signal.signal since): only what is not already SIG_DFL costs a
            # sigaction, a handful instead of 62 on every start. The C module's
            # calls: `signal`'s own wrap every handler in an enum (~0.1 ms a start).
            if _signal.getsignal(number) == _signal.SIG_DFL:
                continue
            _signal.signal(number, _signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass  # glibc-reserved real-time signals
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def wait_for_eof(fd: int) -> None:
    """Block until every writer of the pipe `fd` has closed it, then close it.

    The application (pid 2) waits here until pid 1's exec of trio-lxc-init has
    closed the write end (close-on-exec): only then may container code run.
    """
    try:
        while os.read(fd, 64):
            pass
    finally:
        os.close(fd)


def new_session(take_terminal: bool = True) -> None:
    """setsid, and (take_terminal) make stdin the controlling terminal if it is a free tty.

    Only the application (pid 2) takes the terminal; a system init does not (its
    console shell or getty makes /dev/console its own), nor does the reaper.
    """
    try:
        os.setsid()
    except OSError:
        pass
    if take_terminal and os.isatty(0):
        try:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        except OSError:
            pass  # someone else's controlling terminal: leave it


# -- environment, sysctl, proc, limits ---------------------------------------------------


def environment(config: ContainerConfig, client_env: dict[str, str] | None) -> dict[str, str]:
    """`container=lxc` plus lxc.environment; a bare NAME takes the client's value."""
    env = {"container": "lxc"}
    for item in config.environment:
        name, sep, value = item.partition("=")
        if sep:
            env[name] = value
        elif client_env is not None and name in client_env:
            env[name] = client_env[name]
    return env


#: How a sysctl or /proc/self file is opened below its directory: never above it
#: (`..`, absolute paths), never through a symlink, least of all a magic one.
_BENEATH = linux.RESOLVE_BENEATH | linux.RESOLVE_NO_SYMLINKS | linux.RESOLVE_NO_MAGICLINKS


def open_beneath(dir_fd: int, name: str) -> int:
    """An O_WRONLY fd for `name` (plain components joined by `/`) below `dir_fd`.

    openat2 where the kernel has it (5.6+). Before that, one component at a time
    with O_NOFOLLOW: equivalent only because callers first refuse any name with an
    empty, `.` or `..` component (runtime.config.names).
    """
    try:
        return linux.openat2(dir_fd, name, os.O_WRONLY | os.O_CLOEXEC, 0, _BENEATH)
    except OSError as err:
        if err.errno != errno.ENOSYS:
            raise
    return open_by_components(dir_fd, name)


def open_by_components(dir_fd: int, name: str) -> int:
    """open_beneath without openat2: no symlink followed, at any component."""
    *parents, last = name.split("/")
    opened: list[int] = []
    current = dir_fd
    try:
        for part in parents:
            current = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current)
            opened.append(current)
        return os.open(last, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current)
    finally:
        for fd in opened:
            os.close(fd)


def _write_beneath(key: str, directory: str, name: str, value: str) -> None:
    """Write `value` to `directory`/`name`, opened beneath `directory` (see _BENEATH).

    Why here too, when the parser already refused such names: a config model can be
    built without the parser, and this runs as container root with the host's /proc
    mounted, where `../..` would reach any host file. `directory` itself (/proc/sys,
    /proc/self: the latter is procfs' own symlink to the writer) is opened first,
    with ordinary lookup, as the anchor.
    """
    path = f"{directory}/{name}"
    try:
        dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = open_beneath(dir_fd, name)
        finally:
            os.close(dir_fd)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise SetupError(key, f"cannot write '{shown(value)}' to {path}: {describe_os_error(err)}") from None


def apply_sysctls(config: ContainerConfig, proc: str = "/proc") -> None:
    """lxc.sysctl.KEY = VALUE -> /proc/sys/KEY (dots become slashes)."""
    for key, value in config.sysctl.items():
        problem = sysctl_problem(key)
        if problem is not None:
            raise SetupError(f"lxc.sysctl.{shown(key)}", problem)
        _write_beneath(f"lxc.sysctl.{key}", f"{proc}/sys", key.replace(".", "/"), value)


def apply_proc(config: ContainerConfig, proc: str = "/proc") -> None:
    """lxc.proc.KEY = VALUE -> /proc/self/KEY (oom_score_adj, ...)."""
    for key, value in config.proc.items():
        problem = proc_file_problem(key)
        if problem is not None:
            raise SetupError(f"lxc.proc.{shown(key)}", problem)
        _write_beneath(f"lxc.proc.{key}", f"{proc}/self", key, value)


def apply_prlimits(config: ContainerConfig) -> None:
    """lxc.prlimit.NAME = SOFT[:HARD] (-1 is unlimited)."""
    for name, limit in config.prlimit.items():
        key = f"lxc.prlimit.{name}"
        if name not in RLIMITS:
            raise SetupError(key, f"unknown resource '{name}'")
        soft, hard = (resource.RLIM_INFINITY if v == -1 else v for v in (limit.soft, limit.hard))
        try:
            resource.prlimit(0, RLIMITS[name], (soft, hard))
        except (OSError, ValueError) as err:
            reason = describe_os_error(err) if isinstance(err, OSError) else str(err)
            raise SetupError(key, f"cannot set {limit.soft}:{limit.hard}: {reason}") from None


# -- credentials and capabilities --------------------------------------------------------


def _group_ids(config: ContainerConfig) -> list[int]:
    groups = []
    for item in config.init_groups:
        for part in item.replace(",", " ").split():
            if not part.isdigit():
                raise SetupError("lxc.init.groups", f"'{part}' is not a numeric group id")
            groups.append(int(part))
    return groups


def switch_ids(config: ContainerConfig) -> None:
    """Supplementary groups (lxc.init.groups, else none), then gid, then uid."""
    try:
        os.setgroups(_group_ids(config))
    except OSError as err:
        raise SetupError(
            "lxc.init.groups", f"cannot set groups: {describe_os_error(err)}"
        ) from None
    if config.init_gid is not None:
        try:
            os.setresgid(config.init_gid, config.init_gid, config.init_gid)
        except OSError as err:
            raise SetupError(
                "lxc.init.gid", f"cannot switch to gid {config.init_gid}: {describe_os_error(err)}"
            ) from None
    if config.init_uid is not None:
        try:
            os.setresuid(config.init_uid, config.init_uid, config.init_uid)
        except OSError as err:
            raise SetupError(
                "lxc.init.uid", f"cannot switch to uid {config.init_uid}: {describe_os_error(err)}"
            ) from None


def capability_number(name: str) -> int:
    """A capability by name (`sys_admin`, `CAP_SYS_ADMIN`) or number."""
    if name.isdigit():
        return int(name)
    return CAPABILITIES.index(name.lower().removeprefix("cap_"))


def last_capability() -> int:
    """The highest capability this kernel knows (the bounding set answers EINVAL above)."""
    number = len(CAPABILITIES) - 1
    while number > 0:
        try:
            linux.prctl(linux.PR_CAPBSET_READ, number)
            break
        except OSError:
            number -= 1
    while True:  # a kernel newer than our table
        try:
            linux.prctl(linux.PR_CAPBSET_READ, number + 1)
        except OSError:
            return number
        number += 1


def capabilities_to_drop(config: ContainerConfig, last_cap: int) -> set[int]:
    """The capability numbers lxc.cap.drop or lxc.cap.keep take away."""
    if config.cap_drop and config.cap_keep:
        raise SetupError("lxc.cap.keep", "lxc.cap.drop and lxc.cap.keep cannot both be set")
    if config.cap_keep:
        keep = {capability_number(c) for c in config.cap_keep if c.lower() != "none"}
        return {n for n in range(last_cap + 1) if n not in keep}
    dropped = (capability_number(c) for c in config.cap_drop if c.lower() != "none")
    return {n for n in dropped if n <= last_cap}


def drop_bounding(caps: set[int], key: str = "lxc.cap.drop") -> None:
    """Remove `caps` from the bounding set (what any later exec can ever get)."""
    for number in sorted(caps):
        try:
            linux.prctl(linux.PR_CAPBSET_DROP, number)
        except OSError as err:
            name = CAPABILITIES[number] if number < len(CAPABILITIES) else str(number)
            raise SetupError(key, f"cannot drop {name}: {describe_os_error(err)}") from None


def drop_own(caps: set[int]) -> None:
    """Remove `caps` from our effective/permitted/inheritable sets; clear ambient ones."""
    try:
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as err:
        if err.errno != errno.EINVAL:  # kernels before 4.3 have no ambient set
            raise SetupError(
                "lxc.cap.drop", f"cannot clear ambient capabilities: {describe_os_error(err)}"
            ) from None
    if not caps:
        return
    mask = 0
    for number in caps:
        mask |= 1 << number
    effective, permitted, inheritable = linux.capget()
    try:
        linux.capset(effective & ~mask, permitted & ~mask, inheritable & ~mask)
    except OSError as err:
        raise SetupError(
            "lxc.cap.drop", f"cannot drop capabilities: {describe_os_error(err)}"
        ) from None


def set_no_new_privs(config: ContainerConfig) -> None:
    if config.no_new_privs:
        try:
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        except OSError as err:
            raise SetupError("lxc.no_new_privs", describe_os_error(err)) from None


def change_directory(config: ContainerConfig) -> None:
    cwd = config.init_cwd or "/"
    try:
        os.chdir(cwd)
    except OSError as err:
        raise SetupError(
            "lxc.init.cwd", f"cannot change to '{cwd}': {describe_os_error(err)}"
        ) from None


# -- exec --------------------------------------------------------------------------------


def exec_payload(argv: list[str], env: dict[str, str]) -> None:
    """execve argv[0] (searched in PATH when it has no slash); raises OSError on failure.

    The error raised is the most telling one met on the way (EACCES over ENOENT),
    as execvp does.
    """
    program = argv[0]
    if "/" in program:
        os.execve(program, argv, env)
    denied: OSError | None = None
    other: OSError | None = None
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        try:
            os.execve(os.path.join(directory or ".", program), argv, env)
        except OSError as err:
            if err.errno == errno.EACCES:
                denied = err
            elif err.errno not in (errno.ENOENT, errno.ENOTDIR):
                other = err
    raise denied or other or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
