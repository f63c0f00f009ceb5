"""The container life cycle of lxc(7) as one transition table.

    STOPPED -start-> STARTING -> RUNNING -(no process left)-> STOPPING -> STOPPED
    STARTING -error-> ABORTING -> STOPPING -> STOPPED
    RUNNING -> FREEZING -> FROZEN -> THAWED -> RUNNING

Every change of state goes through `Lifecycle.advance`, which refuses a transition
the table does not have (a bug in the runtime, never a user error), so the bus can
only ever publish sequences that make sense. `describe()` prints the table, from
which the README's state diagram is made. Sans-IO: no trio, no files.
"""

from __future__ import annotations

STOPPED = "STOPPED"
STARTING = "STARTING"
RUNNING = "RUNNING"
STOPPING = "STOPPING"
ABORTING = "ABORTING"
FREEZING = "FREEZING"
FROZEN = "FROZEN"
THAWED = "THAWED"

#: state -> the states it may move to.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    STOPPED: (STARTING,),
    STARTING: (RUNNING, ABORTING),
    RUNNING: (STOPPING, FREEZING),
    ABORTING: (STOPPING,),
    STOPPING: (STOPPED,),
    FREEZING: (FROZEN, RUNNING, STOPPING),
    FROZEN: (THAWED, STOPPING),
    THAWED: (RUNNING, STOPPING),
}


class IllegalTransition(RuntimeError):
    """The runtime tried a transition the life cycle does not have."""


class Lifecycle:
    """The current state of one container and the rule for changing it.

    `state` is read-only: `advance` is the only way to change it. A container
    re-adopted by a new daemon gets a new Lifecycle in its recorded state.
    """

    __slots__ = ("name", "_state")

    def __init__(self, name: str, state: str = STOPPED) -> None:
        if state not in TRANSITIONS:
            raise ValueError(f"unknown state {state!r}")
        self.name = name
        self._state = state

    @property
    def state(self) -> str:
        return self._state

    def can(self, new_state: str) -> bool:
        return new_state in TRANSITIONS[self.state]

    def advance(self, new_state: str) -> str:
        """Move to `new_state`; returns it. IllegalTransition if the table forbids it."""
        if not self.can(new_state):
            raise IllegalTransition(f"{self.name}: {self.state} -> {new_state} is not allowed")
        self._state = new_state
        return new_state


def describe() -> str:
    """The table as text, one `FROM -> TO, TO` line per state."""
    return "\n".join(f"{src} -> {', '.join(dst)}" for src, dst in TRANSITIONS.items())
