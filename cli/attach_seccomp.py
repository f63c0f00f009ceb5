"""lxc-attach and lxc.seccomp.profile: every attached process runs under the
container's seccomp filter, as in LXC 5; elevating LSM (`-e`, `-e LSM`, and `-s`,
which implies `-e`) skips it there, as LXC 5.0.2's lxc-attach does on this host
(`-e CAP` and `-e CGROUP` keep it).

The daemon compiled the profile at start and keeps the BPF program in the runtime
record (runtime.daemon.attach_record); the helper loads it after joining the namespaces
and before switching ids, so the attached process inherits it across fork and
exec. `-f FILE` (or a record without attach settings) compiles the file's profile
here instead. Cheap to import: `binascii` only; the loader (ctypes) is imported by
`loader()` before the helper joins the mount namespace (the host's Python files
are out of reach after that).
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable

Loader = Callable[[bytes, bool], bool]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cli.attach_exec import Target
    from runtime.config.parser import RawConfig


def from_record(target: Target, settings: dict[str, object]) -> None:
    text = settings.get("seccomp")
    target.seccomp = binascii.a2b_base64(text) if isinstance(text, str) and text else None
    target.seccomp_allow_nesting = bool(settings.get("seccomp_allow_nesting"))


def from_config(target: Target, raw: RawConfig, path: str) -> None:
    """-f FILE: compile its lxc.seccomp.profile (relative to the file's directory).
    A profile that does not compile is an error: never attach unfiltered."""
    profile = (raw.get("lxc.seccomp.profile") or "").strip()
    target.seccomp_allow_nesting = (raw.get("lxc.seccomp.allow_nesting") or "0").strip() == "1"
    if not profile:
        return
    from runtime.seccomp.compile import compile_file

    target.seccomp = compile_file(os.path.join(os.path.dirname(os.path.abspath(path)), profile))


def loader(target: Target) -> Loader | None:
    """The function that loads the filter (imported now, while the host's files are
    reachable); None when the container has no profile."""
    if not target.seccomp:
        return None
    from runtime.spawn.seccomp_load import load as load_filter

    return load_filter


def load(target: Target, load_filter: Loader | None) -> bool:
    """In the helper: load the container's filter; False (said) when it fails."""
    if load_filter is None or target.seccomp is None:
        return True
    try:
        load_filter(target.seccomp, target.seccomp_allow_nesting)
    except OSError as err:
        os.write(
            2,
            f"lxc-attach: {target.name}: Failed to load the seccomp filter: {err.strerror}\n".encode(),
        )
        return False
    return True
