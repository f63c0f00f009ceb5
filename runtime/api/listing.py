"""`list_containers`: python3-lxc's names of the containers of an lxcpath."""

from __future__ import annotations

import os
from typing import Literal, overload

from runtime.client.lxcpath import default_lxcpath, list_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runtime.api.container import Container


@overload
def list_containers(
    active: bool = True,
    defined: bool = True,
    as_object: Literal[False] = False,
    config_path: str | None = None,
    *,
    lxcpath: str | None = None,
) -> tuple[str, ...]: ...


@overload
def list_containers(
    active: bool,
    defined: bool,
    as_object: Literal[True],
    config_path: str | None = None,
    *,
    lxcpath: str | None = None,
) -> tuple[Container, ...]: ...


def list_containers(
    active: bool = True,
    defined: bool = True,
    as_object: bool = False,
    config_path: str | None = None,
    *,
    lxcpath: str | None = None,
) -> tuple[str, ...] | tuple[Container, ...]:
    """The names (sorted) of the containers that run (`active`) and/or that have a
    config (`defined`) in `lxcpath` (python3-lxc's `config_path`; the default
    lxcpath if neither); with `as_object`, Container objects instead."""
    from runtime.client.records import read_records
    from runtime.client.status import container_status

    path = os.path.abspath(lxcpath or config_path or default_lxcpath())
    names: set[str] = set()
    if defined:
        names.update(list_names(path))
    if active:
        names.update(name for name in read_records(path) if container_status(path, name).running)
    found = sorted(names)
    if as_object:
        from runtime.api.container import Container

        return tuple(Container(name, path) for name in found)
    return tuple(found)
