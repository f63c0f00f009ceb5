"""lxc.signal.stop: the signal a hard stop (`lxc-stop -k`, or a halt that timed out) sends.

LXC's stop command sends `lxc.signal.stop` (SIGKILL when unset) to the container's
init and returns. With SIGKILL the pid namespace dies with its init; we kill every
process of the container's cgroups instead (the same end, and nothing escapes by
having left the pid namespace's reach), then wait for STOPPED. With another signal
only the init gets it, after a thaw (a frozen init cannot take a signal), and what
it does with it is its business: the command returns at once, as LXC's does.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.config.model import ContainerConfig
    from runtime.daemon.supervisor import Supervisor


def stop_signal(config: ContainerConfig | None) -> int:
    """The configured lxc.signal.stop, else SIGKILL."""
    value = config.signal_stop if config is not None else None
    return int(value) if value else int(signal.SIGKILL)


def halt_signal(config: ContainerConfig | None) -> int:
    """The configured lxc.signal.halt, else SIGPWR (what a graceful lxc-stop sends)."""
    value = config.signal_halt if config is not None else None
    return int(value) if value else int(signal.SIGPWR)


def reboot_signal(config: ContainerConfig | None) -> int:
    """The configured lxc.signal.reboot, else SIGINT (what `lxc-stop -r` sends)."""
    value = config.signal_reboot if config is not None else None
    return int(value) if value else int(signal.SIGINT)


async def hard_stop(supervisor: Supervisor, number: int | None = None) -> bool:
    """Stop `supervisor`'s container the hard way; True when everything was killed
    (the caller may wait for STOPPED), False when only the init got lxc.signal.stop.
    `number`: lxc-stop --rcfile's lxc.signal.stop, in place of the started config's."""
    if number is None:
        number = stop_signal(supervisor.config)
    if number == signal.SIGKILL:
        supervisor.kill()
        return True
    from runtime.daemon import freezer  # trio: lxc-stop --rcfile imports this module for the above

    await freezer.thaw_before_signal(supervisor)
    supervisor.halt(number)  # a stop: calls off a pending reboot too
    return False
