"""One configuration item as LXC's `get_config_item` gives it, for `lxc-info -c KEY`
and the Python API (`Container.get_config_item`), so both answer alike.

LXC's text for a key: a list key is one value a line (each ending in a newline), a
scalar its value, an unset key its default (`0` for numbers and booleans, a few
keys their own, else empty); `lxc.net` lists the type of every device.

Standard library only: lxc-info imports it.
"""

from __future__ import annotations

from runtime.config import keys
from runtime.config.parser import RawConfig

#: What LXC reports for a key that is not set, where that is not empty.
UNSET_DEFAULTS = {"lxc.autodev": "1", "lxc.rootfs.managed": "1", "lxc.log.level": "NOTSET"}


def config_value(config: RawConfig, key: str) -> str | None:
    """LXC's text for KEY: lists one value per line, unset keys their default;
    None for a key LXC does not know."""
    if key == "lxc.net":
        return "".join(f"{config.get(f'lxc.net.{i}.type') or ''}\n" for i in config.net_indices())
    try:
        resolved = keys.lookup(key)
    except keys.UnknownKey:
        return None
    values = config.get_all(key)
    if key == "lxc.rootfs.path" and values:
        return values[-1].removeprefix("dir:")
    if resolved.spec.kind == keys.LIST:
        if key in ("lxc.cap.drop", "lxc.cap.keep"):  # LXC 5: one capability a line
            values = [word for v in values for word in v.split()]
        return "".join(v + "\n" for v in values)
    if values:
        return values[-1]
    if key in UNSET_DEFAULTS:
        return UNSET_DEFAULTS[key]
    number_like = resolved.spec.check.__name__ in ("number", "boolean", "signal_number", "uid")
    return "0" if number_like else ""
