"""The JSON codec of the wire (control protocol, bus, runtime records), without `re`.

Why not `json` itself: `json.decoder` and `json.encoder` import `re` (which imports
`enum`), about 6 ms of every client command's start-up, for two regexes the C
accelerator does not need. This module drives CPython's accelerator (`_json`)
directly: its scanner and encoder are the very ones `json.loads` / `json.dumps`
use, so the accepted texts, the errors (`json.JSONDecodeError`, a ValueError,
raised by `_json`, which imports `json.decoder` only then) and the output are the
standard library's. What `json` does in Python around them is redone here: the
whitespace around the top-level value, "Extra data" after it, the `default` that
refuses unknown types. Behaviour follows `json.loads(text)` and
`json.dumps(value, separators=(",", ":"))` with their defaults: NaN and Infinity
are read and written, non-ASCII is escaped, circular structures are refused.

tests/test_wire_json.py checks it against `json` on a table of texts and values.
Standard library only, no `typing`: the client commands load it at start-up.
"""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanContext:
    """The attributes `_json.make_scanner` reads from its context (json.JSONDecoder's
    defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# typeshed types the context as `make_scanner` itself (a TODO there: it is duck-typed,
# json.decoder passes a JSONDecoder), hence the lookup by name and the declared type.
_scan_once: Callable[[str, int], tuple[object, int]] = vars(_json)["make_scanner"](_ScanContext())


def _error(message: str, text: str, position: int) -> ValueError:
    """json's own error type; `json.decoder` is imported only on this (error) path."""
    from json import JSONDecodeError

    return JSONDecodeError(message, text, position)


def loads(text: str | bytes) -> object:
    """`json.loads(text)`: one JSON value, surrounded by whitespace only.

    Bytes must be UTF-8 (a UnicodeDecodeError, a ValueError, otherwise)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode()
    elif text.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan_once(text, start)
    except StopIteration as err:
        raise _error("Expecting value", text, err.value) from None
    rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if rest != len(text):
        raise _error("Extra data", text, rest)
    return value


def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps(value: object) -> str:
    """`json.dumps(value, separators=(",", ":"))`: compact, ASCII, one line."""
    encoder = _json.make_encoder(
        {}, _unserializable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return "".join(encoder(value, 0))
