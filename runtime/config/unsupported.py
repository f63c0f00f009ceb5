"""Refuse or warn about, at start, every key the runtime does not apply.

Why: a key that is parsed and then ignored is worse than an error. A container
configured with `lxc.idmap` would run as host root while its owner believes it is
unprivileged; one with `lxc.seccomp.profile` would run with no filter at all. The
key table (`runtime.config.keys`) declares for each key whether it takes effect
(`applied_by`), is refused (`refused`), only warned about (`warned`: keys that
have no effect in trio-lxc where LXC reads them elsewhere, e.g. lxc-autostart's),
or is an LSM key (`lsm`). A start whose final config (files, includes and `-s`
defines) sets a refused key fails before anything is created, with one line that
names the key and where it was set; a warned key gives one warning line naming it.

LSM keys (`lxc.apparmor.*`, `lxc.selinux.*`) follow LXC: on a host where that LSM
is not enabled LXC itself skips them (it picks its "nop" LSM), so we only warn; on a
host that enforces the LSM we cannot apply the profile, so we refuse.

A key's `quiet` values (LXC's default: `lxc.apparmor.profile = unconfined`,
`lxc.monitor.signal.pdeath = SIGKILL`) and a boolean `0` ask for nothing we do not
already do: they pass without a word.

Standard library only: the client commands import this on their start-up path.
"""

from __future__ import annotations

import os

from runtime.client.errors import ConfigError
from runtime.config import keys
from runtime.config import values as v
from runtime.config.parser import Entry, RawConfig

#: The name in messages of each LSM a key may belong to (KeySpec.lsm).
_LSM_NAMES = {"apparmor": "AppArmor", "selinux": "SELinux"}

_BOOLEAN_DEFAULT = "0"


def enabled_lsms() -> frozenset[str]:
    """The LSMs this host enforces, read where LXC reads them.

    AppArmor: `/sys/module/apparmor/parameters/enabled` says `Y`. SELinux: selinuxfs
    is mounted (`/sys/fs/selinux/enforce` exists), as libselinux decides.
    """
    found = set()
    try:
        with open("/sys/module/apparmor/parameters/enabled", encoding="ascii") as handle:
            if handle.read(1) == "Y":
                found.add("apparmor")
    except OSError:
        pass
    if os.path.exists("/sys/fs/selinux/enforce"):
        found.add("selinux")
    return frozenset(found)


def check(raw: RawConfig, lsms: frozenset[str] | None = None) -> list[str]:
    """Raise ConfigError for the first key a start must refuse; else return the
    warnings to show (one line each, naming the key).

    `lsms` is the set of LSMs the host enforces (`enabled_lsms()` when None).
    """
    warnings: list[str] = []
    for entry in raw.entries():
        spec = _spec_to_check(entry)
        if spec is None:
            continue
        if spec.lsm is not None:
            if lsms is None:
                lsms = enabled_lsms()
            label = _LSM_NAMES[spec.lsm]
            if spec.lsm in lsms:
                raise ConfigError(
                    entry.file, entry.line, entry.key,
                    f"{spec.refused}, and this host enforces {label}; remove the key "
                    f"(the container then runs without {label} confinement)",
                )  # fmt: skip
            warnings.append(
                f"{entry.key}: {label} is not enabled on this host, so the key is ignored (as LXC does)"
            )
        elif spec.refused is not None:
            raise ConfigError(entry.file, entry.line, entry.key, f"{spec.refused}; remove the key")
        elif spec.warned is not None:
            warnings.append(f"{entry.key}: {spec.warned}")
    return warnings


def _spec_to_check(entry: Entry) -> keys.KeySpec | None:
    """The entry's spec when the runtime does not apply it and the value asks for
    something; None for a key that takes effect or a value that asks for nothing."""
    value = entry.value.strip()
    if not value:
        return None
    try:
        spec = keys.lookup(entry.key).spec
    except keys.UnknownKey:  # the parser accepted it; nothing to say here
        return None
    if spec.applied_by is not None:
        return None
    if spec.check is v.boolean and value == _BOOLEAN_DEFAULT:
        return None
    if spec.quiet and _typed(spec, value) in {_typed(spec, quiet) for quiet in spec.quiet}:
        return None
    return spec


def _typed(spec: keys.KeySpec, value: str) -> object:
    """The value as its checker reads it (`9`, `KILL` and `SIGKILL` are one signal)."""
    try:
        return spec.check(value)
    except ValueError:
        return value


def start_warnings(raw: RawConfig) -> list[str]:
    """The warnings lxc-start / lxc-execute print before asking for the start.

    The refusal itself is the daemon's (its supervisor sees the final config of
    every start, the Python API's included), so a key to refuse gives no warning
    here: the start's reply carries the error.
    """
    try:
        return check(raw)
    except ConfigError:
        return []
