"""Refuse, at start, every confinement key the runtime does not apply yet.

Why: a key that is parsed and then ignored is worse than an error. A container
configured with `lxc.idmap` would run as host root while its owner believes it is
unprivileged; one with `lxc.seccomp.profile` would run with no filter at all. So
until user namespaces, seccomp and hooks exist, a start whose final config (files,
includes and `-s` defines) sets any key the key table marks `unsupported`
(`runtime.config.keys`) fails before anything is created, with one line that names
the key and where it was set.

The one exception follows LXC: the LSM keys (`lxc.apparmor.*`, `lxc.selinux.*`). On
a host where that LSM is not enabled LXC itself skips them (it picks its "nop" LSM),
so we only warn; on a host that enforces the LSM we cannot apply the profile, so we
refuse. `lxc.apparmor.profile = unconfined` is what we do anyway and passes quietly;
so do booleans left at their default (`0`).

Standard library only: the client commands import this on their start-up path.
"""

from __future__ import annotations

import os

from runtime.config import keys
from runtime.config import values as v
from runtime.config.parser import Entry, RawConfig
from runtime.errors import ConfigError

#: The LSM each family of keys belongs to, and its name in messages.
_LSM_PREFIXES = {"lxc.apparmor.": "apparmor", "lxc.selinux.": "selinux"}
_LSM_NAMES = {"apparmor": "AppArmor", "selinux": "SELinux"}

#: Values that ask for nothing the runtime does not already do.
_HARMLESS = {"lxc.apparmor.profile": {"unconfined"}}
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
        reason = _reason(entry)
        if reason is None:
            continue
        lsm = _lsm_of(entry.key)
        if lsm is None:
            raise ConfigError(entry.file, entry.line, entry.key, f"{reason}; remove the key")
        if lsms is None:
            lsms = enabled_lsms()
        label = _LSM_NAMES[lsm]
        if lsm in lsms:
            raise ConfigError(
                entry.file, entry.line, entry.key,
                f"{reason}, and this host enforces {label}; remove the key "
                f"(the container then runs without {label} confinement)",
            )  # fmt: skip
        warnings.append(
            f"{entry.key}: {label} is not enabled on this host, so the key is ignored (as LXC does)"
        )
    return warnings


def _reason(entry: Entry) -> str | None:
    """Why the runtime cannot apply this entry, or None when it has nothing to apply."""
    value = entry.value.strip()
    if not value:
        return None
    try:
        spec = keys.lookup(entry.key).spec
    except keys.UnknownKey:  # the parser accepted it; nothing to say here
        return None
    if spec.unsupported is None:
        return None
    if value in _HARMLESS.get(entry.key, ()):
        return None
    if spec.check is v.boolean and value == _BOOLEAN_DEFAULT:
        return None
    return spec.unsupported


def _lsm_of(key: str) -> str | None:
    for prefix, lsm in _LSM_PREFIXES.items():
        if key.startswith(prefix):
            return lsm
    return None


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
