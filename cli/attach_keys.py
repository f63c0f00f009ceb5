"""What an attached process takes over from the container's init besides its
namespaces, cgroups and credentials: the personality (`lxc.arch`) and the
core-scheduling cookie (`lxc.sched.core`), as LXC's attach does.

Read while the host's /proc still shows the init by its host pid (`InitTraits`),
applied in the helper just before it forks the attached process, which inherits
both. Standard library and `runtime.kernel.linux` only: this is on lxc-attach's path.
"""

from __future__ import annotations

from runtime.kernel import linux


class InitTraits:
    """The init's personality and whether it has a core-scheduling cookie."""

    def __init__(self, pid: int, persona: int | None = None) -> None:
        """`persona`: lxc-attach -a ARCH's, in place of the init's."""
        self.pid = pid
        self.persona = persona
        if persona is None:
            try:
                with open(f"/proc/{pid}/personality", encoding="ascii") as handle:
                    self.persona = int(handle.read().strip(), 16)
            except (OSError, ValueError):
                pass
        self.has_cookie = _cookie_of(pid) not in (None, 0)

    def apply(self) -> None:
        """Take the init's personality and cookie (nothing of ours where it has none)."""
        if self.persona is not None and self.persona != linux.personality(linux.PERSONALITY_QUERY):
            linux.personality(self.persona)
        if self.has_cookie:
            linux.prctl(linux.PR_SCHED_CORE, linux.PR_SCHED_CORE_SHARE_FROM, self.pid, 0)


def arch_personality(arch: str) -> int:
    """lxc-attach -a ARCH: the personality of an lxc.arch name on this host."""
    import os

    from runtime.client.errors import LxcError
    from runtime.config.values import architecture
    from runtime.spawn.errors import SetupError
    from runtime.spawn.personality import persona_for

    try:
        return persona_for(architecture(arch), os.uname().machine)
    except (ValueError, SetupError):
        raise LxcError(f"Invalid architecture specified: {arch}") from None


def _cookie_of(pid: int) -> int | None:
    """The core-scheduling cookie of `pid`'s thread group; None without core scheduling."""
    import ctypes

    cookie = ctypes.c_uint64(0)
    try:
        linux.prctl(
            linux.PR_SCHED_CORE, linux.PR_SCHED_CORE_GET, pid, linux.PR_SCHED_CORE_SCOPE_THREAD_GROUP,
            ctypes.addressof(cookie),
        )  # fmt: skip
    except OSError:
        return None
    return int(cookie.value)

