"""The typed config (attrs classes) as plain JSON data and back, without cattrs.

Why not cattrs: the daemon and the spawner are a fixed cost per lxcpath, and the
spawner's size is what every container start forks. cattrs costs each of them about
1 MiB of modules plus the code it generates for the model (kept with its source in
`linecache`): measured, ~4 MiB of the spawner's 15 MiB private memory. The model's
shapes are few (str, int, bool, `T | None`, `list[T]`, `dict[str, T]`, attrs
classes), so a decoder per field, built once per class from its resolved
annotations, does the same job in one small module.

The plain form is the one cattrs gave (tests compare the two on every config of
conf-examples/ and the tests), so a record or a spawn message written by either
reads back the same. Decoding is stricter than cattrs, which converts (`int("5")`,
`str(5)`, `bool("no")`) and ignores unknown keys: here a value of the wrong JSON
type, an unknown key (a daemon newer than its spawner: the setting would silently
be dropped) or a missing required one is a `PlainError` naming where it is.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable

import attrs

T = typing.TypeVar("T")

#: Turns the plain value found at a path (for error messages) into its typed value.
Decoder = Callable[[object, str], object]


class PlainError(ValueError):
    """Plain data that is not of the model's shape; the message says where."""


def unstructure(value: object) -> object:
    """Plain data for `value` (an attrs instance, or what its fields hold)."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return [unstructure(item) for item in value]
    if isinstance(value, dict):
        return {key: unstructure(item) for key, item in value.items()}
    if attrs.has(type(value)):
        return {name: unstructure(getattr(value, name)) for name in _field_names(type(value))}
    raise TypeError(f"no plain form for a {type(value).__name__}")


def structure(data: object, cls: type[T]) -> T:
    """The instance of the attrs class `cls` that `unstructure` gave `data` for."""
    return typing.cast(T, _class_decoder(cls)(data, cls.__name__))


# -- decoders, built once per class ---------------------------------------------------------

_CLASS_DECODERS: dict[type, Decoder] = {}
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in attrs.fields(cls))
    return names


def _class_decoder(cls: type) -> Decoder:
    known = _CLASS_DECODERS.get(cls)
    if known is not None:
        return known
    attrs.resolve_types(cls)
    fields: dict[str, Decoder] = {}
    required: list[str] = []

    def decode(value: object, where: str) -> object:
        if not isinstance(value, dict):
            raise PlainError(f"{where}: expected an object, got {_kind(value)}")
        kwargs: dict[str, object] = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                raise PlainError(f"{where}: unknown key {key!r}")
            kwargs[key] = field(item, f"{where}.{key}")
        for key in required:
            if key not in kwargs:
                raise PlainError(f"{where}: {key!r} is missing")
        return cls(**kwargs)

    _CLASS_DECODERS[cls] = decode  # before the fields: a class may hold itself
    for field in attrs.fields(cls):
        fields[field.name] = _decoder(field.type)
        if field.default is attrs.NOTHING:
            required.append(field.name)
    return decode


def _decoder(tp: object) -> Decoder:
    """The decoder of one annotation of the model."""
    if tp is str or tp is int or tp is bool or tp is float:
        return _scalar(typing.cast(type, tp))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(args) != 2:
            raise TypeError(f"no plain form for {tp!r}")
        return _optional(_decoder(others[0]))
    if origin is list:
        return _list(_decoder(args[0]))
    if origin is dict and args[0] is str:
        return _dict(_decoder(args[1]))
    if isinstance(tp, type) and attrs.has(tp):
        return _class_decoder(tp)
    raise TypeError(f"no plain form for {tp!r}")


def _scalar(cls: type) -> Decoder:
    def decode(value: object, where: str) -> object:
        # bool is an int to Python, not to the model (nor an int a float, nor the reverse).
        if type(value) is not cls and not (cls is float and type(value) is int):
            raise PlainError(f"{where}: expected {cls.__name__}, got {_kind(value)}")
        return value

    return decode


def _optional(inner: Decoder) -> Decoder:
    def decode(value: object, where: str) -> object:
        return None if value is None else inner(value, where)

    return decode


def _list(item: Decoder) -> Decoder:
    def decode(value: object, where: str) -> object:
        if not isinstance(value, list | tuple):
            raise PlainError(f"{where}: expected a list, got {_kind(value)}")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return decode


def _dict(item: Decoder) -> Decoder:
    def decode(value: object, where: str) -> object:
        if not isinstance(value, dict):
            raise PlainError(f"{where}: expected an object, got {_kind(value)}")
        out: dict[str, object] = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise PlainError(f"{where}: a key must be a string, got {_kind(key)}")
            out[key] = item(v, f"{where}[{key!r}]")
        return out

    return decode


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
