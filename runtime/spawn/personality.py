"""lxc.arch: the container's execution domain, as `uname -m` inside shows it.

LXC calls personality(2) in the container's child before the payload runs: a
32-bit name (`x86`, `i686`, `linux32`, ...) gives PER_LINUX32, so `uname -m` says
`i686` on an x86_64 host; a 64-bit name gives PER_LINUX. The domain survives
fork and exec, so the init and everything it starts (and nothing of the host's)
runs under it. Names of another architecture family cannot be honoured by the
kernel (an arm64 container on x86_64 needs emulation, not a personality): LXC
then sets nothing and the payload's exec fails or runs natively; we refuse the
start, naming the key, rather than start something the config did not ask for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn.errors import SetupError, describe_os_error

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: lxc.arch values that mean a 32-bit personality, by the host family they apply on.
_LINUX32 = {
    "x86": {"x86", "i386", "i486", "i586", "i686", "athlon", "linux32"},
    "arm": {"arm", "armel", "armhf", "armv7l", "armv7a", "armv8l", "linux32"},
    "ppc": {"powerpc", "ppc", "linux32"},
    "mips": {"mips", "mipsel", "linux32"},
}
#: lxc.arch values that mean the host's own 64-bit domain, by family.
_LINUX64 = {
    "x86": {"x86_64", "amd64", "linux64"},
    "arm": {"arm64", "aarch64", "linux64"},
    "ppc": {"powerpc64", "ppc64", "ppc64le", "ppc64el", "linux64"},
    "mips": {"mips64", "mips64el", "linux64"},
    "s390": {"s390x", "linux64"},
    "riscv": {"riscv64", "linux64"},
    "loongarch": {"loongarch64", "linux64"},
}
_FAMILIES = {
    "x86_64": "x86", "i686": "x86", "i386": "x86", "aarch64": "arm", "armv7l": "arm",
    "ppc64le": "ppc", "ppc64": "ppc", "mips64": "mips", "s390x": "s390", "riscv64": "riscv",
    "loongarch64": "loongarch",
}  # fmt: skip


def persona_for(arch: str, machine: str) -> int:
    """The personality(2) domain for `lxc.arch = arch` on a host whose `uname -m` is
    `machine`; SetupError when the host cannot run that architecture natively."""
    family = _FAMILIES.get(machine, machine)
    if arch in _LINUX32.get(family, ()):
        return linux.PER_LINUX32
    if arch in _LINUX64.get(family, ()):
        return linux.PER_LINUX
    raise SetupError("lxc.arch", f"'{arch}' cannot run natively on this {machine} host")


def apply_arch(config: ContainerConfig) -> None:
    """Set the execution domain lxc.arch asks for (nothing when unset)."""
    if config.arch is None:
        return
    persona = persona_for(config.arch, os.uname().machine)
    try:
        linux.personality(persona)
    except OSError as err:
        raise SetupError("lxc.arch", f"cannot set the personality: {describe_os_error(err)}") from None
