"""lxc.keyring.session: a fresh session keyring for the container.

The kernel's keyrings are not namespaced: a container that inherits the daemon's
session keyring can read the keys the host's root keeps there. LXC therefore
gives every container a new anonymous session keyring (keyctl
KEYCTL_JOIN_SESSION_KEYRING with no name) unless `lxc.keyring.session = 0`, and
only logs when the kernel refuses (no keyctl, or it is blocked): the container
then starts with the inherited keyring, as LXC's does.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from runtime.kernel import linux
from runtime.spawn.errors import SetupError, describe_os_error

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig

#: What LXC treats as "keyrings are not available here": the start goes on.
_UNAVAILABLE = (errno.ENOSYS, errno.EACCES, errno.EPERM)


def new_session_keyring(config: ContainerConfig) -> None:
    """Join a new anonymous session keyring unless lxc.keyring.session = 0."""
    if config.keyring_session is False:
        return
    try:
        linux.keyctl(linux.KEYCTL_JOIN_SESSION_KEYRING, 0)
    except OSError as err:
        if err.errno in _UNAVAILABLE:
            return
        raise SetupError(
            "lxc.keyring.session", f"cannot create a session keyring: {describe_os_error(err)}"
        ) from None
