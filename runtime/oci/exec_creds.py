"""What an `exec`'d process may hold: never more than the container's init.

`trio-lxc-oci exec` runs as the host's root with every capability. A process
started from it keeps whatever is not taken away, so each default here is the
init's, read from /proc/<init>/status once the init is pinned by a pidfd:

- no process.capabilities (or no --process): the init's bounding set, not the
  full set of the root that runs the command (runc uses the container's own
  process.capabilities there);
- the init's no_new_privs stays on (the exec'd process is in the same container);
- uid/gid/additionalGids are checked before anything acts: -1 (4294967295) means
  "leave unchanged" to setresuid(2)/setresgid(2), so it would leave the process
  the host's root.

Standard library only: the OCI command is a client.
"""

from __future__ import annotations

#: The largest id a process can be given ((uid_t)-1 means "unchanged").
MAX_ID = 2**32 - 2


def check_id(value: object, field: str) -> int:
    """`value` as a uid/gid; ValueError naming `field` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValueError(f"{field}: {value!r} is not a user or group id (0 to {MAX_ID})")
    return value


def parse_id(text: str, field: str) -> int:
    """A decimal uid/gid from the command line; ValueError naming `field`."""
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{field}: '{text}' is not a numeric user or group id")
    return check_id(int(text), field)


def init_status(pid: int) -> tuple[set[int], bool]:
    """The init's bounding set (capability numbers) and its no_new_privs.

    OSError when it is gone (the caller then fails the exec, naming it)."""
    bounding: set[int] | None = None
    no_new_privs = False
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name == "CapBnd":
                mask = int(value.strip(), 16)
                bounding = {bit for bit in range(64) if mask >> bit & 1}
            elif name == "NoNewPrivs":
                no_new_privs = value.strip() == "1"
    if bounding is None:
        raise OSError(f"/proc/{pid}/status has no CapBnd")
    return bounding, no_new_privs
