"""The daemon's part of lxc.seccomp.profile at start: compile the container's profile.

Called by the supervisor right after it has read the config, before anything of
the container is made: a bad profile (a line LXC's format does not allow, one
libseccomp refuses, an unreadable file) fails the start with one line naming the
profile file and line. The program is handed to the container child in the spawn
request (base64 in JSON) and kept for lxc-attach in the runtime record
(runtime.daemon.attach_record).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig


def compile_for(config: ContainerConfig, lxcpath: str, name: str) -> bytes | None:
    """The BPF program of the config's lxc.seccomp.profile; None without one.

    A relative profile path is taken relative to the container's directory
    (`<lxcpath>/<name>`), as a relative lxc.mount.fstab is: the daemon does not
    share the client's working directory.
    """
    path = (config.seccomp_profile or "").strip()
    if not path:
        return None
    from runtime.seccomp.compile import compile_file

    return compile_file(os.path.join(lxcpath, name, path))
