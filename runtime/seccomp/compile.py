"""Compile a parsed seccomp profile to a BPF program with libseccomp (pyseccomp).

Runs in the daemon, at start, right after the config is read: a profile that
libseccomp refuses fails the start before anything of the container exists, and
the container child (which cannot import after pivot_root) only has to hand the
finished program to the kernel (runtime.spawn.seccomp_load).

As LXC: on an x86_64 host the filter covers the native ABI and the i386 and x32
ones (a process could otherwise escape a denylist through `int 0x80`); rules of
`[all]` go to every ABI, a section's rules to its own; a syscall name that an ABI
does not have (or only has as a multiplexed pseudo-call) is skipped there; a rule
whose action is the default one is a no-op and is skipped (libseccomp refuses it).
The filter's no_new_privs attribute is off (LXC's choice): the loader sets
no_new_privs itself only when it lacks CAP_SYS_ADMIN.
"""

from __future__ import annotations

import os
from typing import Any

from runtime.client.errors import ConfigError
from runtime.seccomp import profile as p

_PYSECCOMP: Any = None


def _library(path: str) -> Any:
    """pyseccomp, imported on first use: only a start with a profile pays for it.
    Without it (or without the system's libseccomp) the start is refused: never
    run a container unfiltered that asked for a filter."""
    global _PYSECCOMP
    if _PYSECCOMP is None:
        try:
            import pyseccomp
        except (ImportError, OSError) as err:
            raise ConfigError(
                path,
                0,
                p.KEY,
                f"libseccomp is not available ({err}): install pyseccomp and libseccomp2",
            ) from None
        _PYSECCOMP = pyseccomp
    return _PYSECCOMP


def compile_file(path: str) -> bytes:
    """The BPF program of the profile file `path` (ConfigError naming file:line)."""
    return compile_profile(p.load(path))


def compile_profile(profile: p.Profile) -> bytes:
    """The BPF program (struct sock_filter array) for `profile`."""
    sc = _library(profile.path)
    try:
        return _compile(sc, profile)
    except OSError as err:  # libseccomp refused the filter itself (rules are named)
        raise profile.error(
            0, f"libseccomp cannot build the filter: {err.strerror or err}"
        ) from None


def _compile(sc: Any, profile: p.Profile) -> bytes:
    default = _action(sc, profile.default)
    native = _new_filter(sc, default, None)
    filters: dict[str, tuple[Any, int]] = {p.NATIVE: (native, sc.Arch.NATIVE)}
    if profile.version == 2 and sc.system_arch() == sc.Arch.X86_64:
        filters[p.X86] = (_new_filter(sc, default, sc.Arch.X86), sc.Arch.X86)
        filters[p.X32] = (_new_filter(sc, default, sc.Arch.X32), sc.Arch.X32)
    for rule in profile.rules:
        if rule.action == profile.default:
            continue
        for group in _groups(rule.arch):
            if group in filters:
                _add(sc, profile, rule, *filters[group])
    for group in (p.X86, p.X32):
        if group in filters:
            try:
                native.merge(filters[group][0])
            except OSError as err:
                raise profile.error(
                    0, f"cannot merge the {group} filter: {err.strerror or err}"
                ) from None
    return _export(native)


def _groups(arch: str) -> tuple[str, ...]:
    if arch == p.ALL:
        return (p.NATIVE, p.X86, p.X32)
    if arch == p.COMPAT:
        return (p.X86, p.X32)
    return (arch,)


def _new_filter(sc: Any, default: int, arch: int | None) -> Any:
    """A filter for one ABI (the native one when `arch` is None), NNP attribute off."""
    syscall_filter = sc.SyscallFilter(default)
    syscall_filter.set_attr(sc.Attr.CTL_NNP, 0)
    if arch is not None:
        syscall_filter.add_arch(arch)
        syscall_filter.remove_arch(sc.Arch.NATIVE)
    return syscall_filter


def _add(sc: Any, profile: p.Profile, rule: p.Rule, syscall_filter: Any, arch: int) -> None:
    """Add `rule` to the filter of one ABI. libseccomp takes the syscall by its
    native number and translates it to the filter's ABI itself."""
    if isinstance(rule.syscall, int):
        number = rule.syscall
    else:
        # unknown on this ABI, or a multiplexed pseudo-syscall there: skipped, as LXC does
        if sc.resolve_syscall(arch, rule.syscall) < 0:
            return
        number = sc.resolve_syscall(sc.Arch.NATIVE, rule.syscall)
        if number < 0:
            return
    args = [
        sc.Arg(check.index, check.op, check.mask, check.value)
        if check.op == p.MASKED_EQ
        else sc.Arg(check.index, check.op, check.value)
        for check in rule.args
    ]
    try:
        syscall_filter.add_rule_exactly(_action(sc, rule.action), number, *args)
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise profile.error(
            rule.line, f"libseccomp refuses the rule for {rule.syscall}: {reason}"
        ) from None


def _action(sc: Any, action: p.Action) -> int:
    if action.kind == "errno":
        return int(sc.ERRNO(action.errno))
    return int({"allow": sc.ALLOW, "kill": sc.KILL, "trap": sc.TRAP}[action.kind])


def _export(syscall_filter: Any) -> bytes:
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        syscall_filter.export_bpf(_Fd(fd))
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


class _Fd:
    """What export_bpf wants: an object with fileno()."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd
