"""Where containers live: the lxcpath, container names and the files of one container.

LXC's layout is kept exactly so that an LXC user can switch by changing PATH:
`<lxcpath>/<name>/config` and `<lxcpath>/<name>/rootfs`. The default lxcpath is
`/var/lib/lxc`, or `lxc.lxcpath` from the system config `/etc/lxc/lxc.conf`.

Standard library only: every client command calls this at start-up.
"""

from __future__ import annotations

from runtime.client import lean_os as os  # not `os`: start-up time
from runtime.client.errors import InvalidName

DEFAULT_LXCPATH = "/var/lib/lxc"
SYSTEM_CONFIG = "/etc/lxc/lxc.conf"
DEFAULT_CONTAINER_CONFIG = "/etc/lxc/default.conf"
#: What a new container gets when there is no /etc/lxc/default.conf.
BUILTIN_DEFAULT_CONFIG = "lxc.net.0.type = empty\n"
#: A name becomes the default hostname, which the kernel limits to 64 bytes.
MAX_NAME_LENGTH = 64


def system_config_path() -> str:
    """The system-wide LXC config; `TRIO_LXC_SYSTEM_CONFIG` overrides it (tests)."""
    return os.environ.get("TRIO_LXC_SYSTEM_CONFIG", SYSTEM_CONFIG)


def default_container_config_path() -> str:
    """The config new containers start from; `TRIO_LXC_DEFAULT_CONFIG` overrides it."""
    return os.environ.get("TRIO_LXC_DEFAULT_CONFIG", DEFAULT_CONTAINER_CONFIG)


def default_lxcpath() -> str:
    """`lxc.lxcpath` from the system config if it sets one, else /var/lib/lxc."""
    try:
        with open(system_config_path(), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return DEFAULT_LXCPATH
    found = DEFAULT_LXCPATH
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "lxc.lxcpath" and value.strip():
            found = value.strip()
    return found


def validate_name(name: str) -> str:
    """Refuse names that cannot safely be a directory under lxcpath; return the name."""
    if not name:
        raise InvalidName("a container name must not be empty")
    if "/" in name:
        raise InvalidName(f"invalid container name '{name}': it must not contain '/'")
    if name.startswith("."):
        raise InvalidName(f"invalid container name '{name}': it must not start with '.'")
    if name.startswith("-"):
        raise InvalidName(f"invalid container name '{name}': it must not start with '-'")
    # Printable first: an undecodable byte of a command line (surrogateescape) is not,
    # and cannot be measured in UTF-8 below.
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InvalidName(
            f"invalid container name {name!r}: it must not contain spaces or control characters"
        )
    if len(name.encode()) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"invalid container name '{name}': longer than {MAX_NAME_LENGTH} bytes "
            "(the name becomes the container's hostname)"
        )
    return name


class ContainerPaths:
    """The files of one container under an lxcpath (nothing is checked or created)."""

    __slots__ = ("lxcpath", "name", "dir", "config", "rootfs")

    def __init__(self, lxcpath: str, name: str) -> None:
        self.lxcpath = os.path.abspath(lxcpath)
        self.name = name
        self.dir = os.path.join(self.lxcpath, name)
        self.config = os.path.join(self.dir, "config")
        self.rootfs = os.path.join(self.dir, "rootfs")

    def is_defined(self) -> bool:
        """LXC's rule: a container exists when its directory has a config file."""
        return os.path.isfile(self.config)


def list_names(lxcpath: str) -> list[str]:
    """Names of the containers defined in lxcpath, sorted (none if it does not exist)."""
    try:
        entries = os.listdir(lxcpath)
    except OSError:
        return []
    return sorted(
        name
        for name in entries
        if not name.startswith(".") and os.path.isfile(os.path.join(lxcpath, name, "config"))
    )
