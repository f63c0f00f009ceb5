"""What the blocking `Container` and the trio `AsyncContainer` share: the container's
files, its in-memory config, its state from the runtime record, and every decision
that needs no IO of its own (what a reply or a state means for the bool python3-lxc
returns). Each flavour adds only how it waits: plainly, or with trio.

The rule for results, python3-lxc's where it has a bool: True when the thing was
done; False when the container's state does not allow it (start of a running
container, stop/freeze/cgroup of a stopped one, destroy/clone/rename of a running
one, create of a defined one, wait or shutdown running out of time). A failure with
a reason (a bad config value, a template or hook failing, a name refused, the daemon
refusing) raises LxcError with LXC's message, where python3-lxc would return False
and leave the reason in its log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Literal

from runtime.api.config_items import ConfigItems, Value, subkeys
from runtime.client.errors import ContainerNotFound, LxcError
from runtime.client.lxcpath import ContainerPaths, default_lxcpath, validate_name

#: python3-lxc's create and clone flags (LXC's values).
LXC_CREATE_QUIET = 0x01
LXC_CLONE_KEEPNAME = 0x01
LXC_CLONE_KEEPMACADDR = 0x02
LXC_CLONE_SNAPSHOT = 0x04
LXC_CLONE_KEEPBDEVTYPE = 0x08
LXC_CLONE_MAYBE_SNAPSHOT = 0x10

#: The states `wait` accepts (LXC's).
STATES = frozenset(
    ("STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED")
)


class ContainerBase:
    """One container of an lxcpath (default: the commands' default lxcpath)."""

    def __init__(self, name: str, lxcpath: str | None = None, *, config_path: str | None = None) -> None:
        """`config_path` is python3-lxc's name for the lxcpath; either may be given."""
        self.name = validate_name(name)
        self.lxcpath = os.path.abspath(lxcpath or config_path or default_lxcpath())
        self.paths = ContainerPaths(self.lxcpath, name)
        self._config = ConfigItems(self.paths.config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, lxcpath={self.lxcpath!r})"

    # -- what the files and the runtime record say ------------------------------------
    @property
    def config_file_name(self) -> str:
        return self.paths.config

    @property
    def defined(self) -> bool:
        return self.paths.is_defined()

    @property
    def state(self) -> str:
        """STOPPED, STARTING, RUNNING, STOPPING, ABORTING, FREEZING, FROZEN or THAWED
        (from the runtime record: no daemon round trip)."""
        from runtime.client.status import container_status

        return container_status(self.lxcpath, self.name).state

    @property
    def running(self) -> bool:
        return self.state != "STOPPED"

    @property
    def init_pid(self) -> int:
        """The init's pid on the host; -1 when the container is not running (python3-lxc)."""
        from runtime.client.status import container_status

        pid = container_status(self.lxcpath, self.name).pid
        return pid if pid else -1

    @property
    def controllable(self) -> bool:
        return os.geteuid() == 0

    # -- the in-memory config (python3-lxc's semantics) -----------------------------------
    def get_config_item(self, key: str) -> Value:
        """A list for a list key holding values, else a string (LXC's text; an unset
        key its default). InvalidKey (a KeyError) for a key LXC does not know."""
        return self._config.get(key)

    def set_config_item(self, key: str, value: Value) -> bool:
        """Set a key in memory (a list replaces every value of a list key); True.
        A bad value raises ConfigError naming the key (memory unchanged)."""
        self._config.set(key, value)
        return True

    def append_config_item(self, key: str, value: str) -> bool:
        """Add a value to a list key in memory; True."""
        self._config.append(key, value)
        return True

    def clear_config_item(self, key: str) -> bool:
        """Clear a key or a group (`lxc.net.0`, `lxc.cgroup2`) in memory; True."""
        self._config.clear(key)
        return True

    def clear_config(self) -> None:
        """Forget the in-memory changes: the next read is the file's."""
        self._config.reload()

    def get_keys(self, key: str | None = None) -> list[str]:
        """Every top-level key, or the sub-keys valid under `key` (`lxc.net.0`)."""
        return subkeys(self._config.raw, key)

    def load_config(self, path: str | None = None) -> bool:
        """Read the config file again (or another file's items into memory); True."""
        self._config.reload()
        if path is not None:
            from runtime.config.parser import parse_file

            loaded = parse_file(path)
            for key in loaded.keys():
                self._config.set(key, loaded.get_all(key))
        return True

    def save_config(self, path: str | None = None) -> bool:
        """Write the in-memory changes to the config file (its other lines kept), or
        a copy with them to `path`; True."""
        if path is None and not self.paths.is_defined() and not os.path.isdir(self.paths.dir):
            os.makedirs(self.paths.dir, mode=0o770)
        self._config.save(path)
        return True

    def get_running_config_item(self, key: str) -> Value | None:
        """A key of the config the running container was started with (its file and
        `-s` defines as they were read at start); None when it is not running."""
        from runtime.client.records import record_path
        from runtime.config.items import config_value
        from runtime.config.parser import apply_define, parse_file

        if not self.running:
            return None
        try:
            with open(record_path(self.lxcpath, self.name), encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return None
        config_path = record.get("config_path") or self.paths.config
        raw = parse_file(str(config_path))
        for define in record.get("defines") or []:
            apply_define(raw, str(define))
        text = config_value(raw, key)
        if text is None:
            from runtime.api.config_items import InvalidKey

            raise InvalidKey(f"{key}: Invalid configuration key")
        return text.rstrip("\n").split("\n") if text.endswith("\n") else text

    # -- network (the container's namespace, as lxc-info -i sees it) ----------------------
    def _net_addresses(self) -> list[tuple[str, int, str, int]] | None:
        from runtime.net import info as netinfo

        pid = self.init_pid
        if pid <= 0:
            return None
        view = netinfo.view(pid)
        return None if view is None else list(view.addresses)

    def _ips_now(self, interface: str | None, family: str | None, scope: int | None) -> tuple[str, ...]:
        import socket

        addresses = self._net_addresses() or []
        families = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
        if family is not None and family not in families:
            raise LxcError(f"invalid family '{family}' (inet or inet6)")
        found = []
        for want in (socket.AF_INET, socket.AF_INET6):  # IPv4 first, as LXC lists them
            if family is not None and families[family] != want:
                continue
            for ifname, fam, address, addr_scope in addresses:
                if fam != want:
                    continue
                if interface is not None and ifname != interface:
                    continue
                if interface is None and ifname == "lo":
                    continue
                if scope is not None:
                    if addr_scope != scope:
                        continue
                elif fam == socket.AF_INET6 and addr_scope != 0:
                    continue  # no link-local addresses unless a scope asks for them
                found.append(address)
        return tuple(found)

    def _interfaces_now(self) -> tuple[str, ...]:
        from runtime.net import info as netinfo

        pid = self.init_pid
        view = netinfo.view(pid) if pid > 0 else None
        return tuple(view.interfaces()) if view is not None else ()

    # -- shared steps of the operations ---------------------------------------------------
    def _require_defined(self) -> None:
        if not self.defined:
            raise ContainerNotFound(f"{self.name} doesn't exist")

    def _start_config(self) -> str:
        """The config a start reads: the file (in-memory changes must be saved first,
        as with python3-lxc, whose start passes its in-memory config)."""
        self._require_defined()
        if self._config.dirty:
            self._config.save()
        return self.paths.config

    def _create(
        self,
        template: str | None,
        args: Iterable[str] | Mapping[str, str],
        bdevtype: str | None,
        config_file: str | None,
    ) -> bool:
        """The store's create, then the in-memory items set before it (blocking)."""
        from runtime.storage import store

        if self.defined:
            return False
        if bdevtype not in (None, "dir"):
            raise LxcError(f"backing store '{bdevtype}' is not supported (only 'dir')")
        if isinstance(args, Mapping):
            template_args = [word for key, value in args.items() for word in (f"--{key}", str(value))]
        else:
            template_args = list(args)
        store.create(
            self.lxcpath, self.name, config_file=config_file, template=template,
            template_args=template_args,
        )  # fmt: skip
        if self._config.dirty:
            self._config.save()
        self._config.reload()
        return True

    def _destroy(self) -> bool:
        from runtime.storage import store

        if not self.defined or self.running:
            return False
        store.destroy(self.lxcpath, self.name)
        self._config.reload()
        return True

    def _copy(
        self, newname: str, new_lxcpath: str | None, flags: int, hookargs: Iterable[str],
        snapshot: bool, rename: bool, backing: str | None = None, fssize: int = 0,
    ) -> bool:  # fmt: skip
        """Every clone and rename goes through here (blocking); False when the
        container is running or not defined."""
        if not self.defined or self.running:
            return False
        copy_container(
            self.lxcpath, self.name, newname, new_lxcpath=new_lxcpath,
            keep_name=bool(flags & LXC_CLONE_KEEPNAME), keep_mac=bool(flags & LXC_CLONE_KEEPMACADDR),
            hookargs=list(hookargs), snapshot=snapshot or bool(flags & LXC_CLONE_SNAPSHOT),
            rename=rename, backing=backing, fssize=fssize,
        )  # fmt: skip
        return True

    # -- snapshots (runtime.storage.snapshots, as lxc-snapshot) -----------------------
    def _snapshot(self, comment_path: str | None) -> str | Literal[False]:
        """A snapshot of the stopped container: its name (snapN); False if it runs
        or is not defined (LXC refuses a running one too)."""
        from runtime.storage import snapshots

        if not self.defined or self.running:
            return False
        return snapshots.create(self.paths, comment_file=comment_path)

    def _snapshot_list(self) -> tuple[tuple[str, str | None, str, str], ...]:
        """python3-lxc's tuples: (name, comment file or None, timestamp, lxcpath of
        the snapshots)."""
        from runtime.storage import snapshots

        if not self.defined:
            return ()
        return tuple(
            (snap.name, os.path.join(snap.path, snap.name, "comment") if snap.comment is not None else None,
             snap.timestamp, snap.path)
            for snap in snapshots.list_snapshots(self.paths)
        )  # fmt: skip

    def _snapshot_restore(self, name: str, newname: str | None) -> bool:
        """Restore snapshot `name` into `newname`, or in place (False if this one runs)."""
        from runtime.storage import snapshots

        if not self.defined or (not newname and self.running):
            return False
        if newname:
            validate_name(newname)
        snapshots.restore(self.paths, name, newname)
        self._config.reload()
        return True

    def _snapshot_destroy(self, name: str) -> bool:
        """Destroy snapshot `name` (or every one: "ALL"); False if not defined."""
        from runtime.storage import snapshots

        if not self.defined:
            return False
        if name == "ALL":
            snapshots.destroy_all(self.paths)
        else:
            snapshots.destroy(self.paths, name)
        return True


def copy_container(
    lxcpath: str,
    name: str,
    newname: str,
    *,
    new_lxcpath: str | None = None,
    keep_name: bool = False,
    keep_mac: bool = False,
    hookargs: list[str] | None = None,
    snapshot: bool = False,
    rename: bool = False,
    backing: str | None = None,
    fssize: int = 0,
) -> None:
    """The one way the API clones or renames a container (runtime.storage.store.copy, as
    lxc-copy): `snapshot` makes an overlay clone on this rootfs (lxc-copy -s),
    `backing` (bdevtype) and `fssize` (newsize, bytes) are -B and --fssize."""
    from runtime.storage import store
    from runtime.storage.options import DEFAULT_FSSIZE, StoreOptions

    store.copy(
        lxcpath, name, newname, new_lxcpath=new_lxcpath, keep_name=keep_name,
        keep_mac=keep_mac, rename=rename, hook_args=hookargs or (), snapshot=snapshot,
        backing=backing, store_options=StoreOptions(fssize=fssize or DEFAULT_FSSIZE),
    )  # fmt: skip


def parse_states(state: str | Iterable[str]) -> frozenset[str]:
    """`wait`'s state: one name (python3-lxc), `A|B`, or several names."""
    names = state.upper().split("|") if isinstance(state, str) else [s.upper() for s in state]
    wanted = frozenset(name.strip() for name in names if name.strip())
    unknown = sorted(wanted - STATES)
    if unknown or not wanted:
        raise LxcError(f"{unknown[0] if unknown else state!r}: invalid state")
    return wanted


def wait_timeout(timeout: float) -> float | None:
    """python3-lxc's timeout: seconds, a negative value waits for ever."""
    return None if timeout < 0 else float(timeout)
