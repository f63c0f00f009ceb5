"""JSON decoding with a bound on nesting, for lines that come from untrusted peers.

Why: the standard `json` decoder recurses once per nested array or object, so one
line of 60,000 `[` raises RecursionError (not ValueError) in whoever decodes it;
a daemon that catches only ValueError dies. The depth is checked before decoding,
cheaply: a line with few brackets (every real message) is passed by two C-speed
counts; only a line with many brackets is scanned, with a regex that skips JSON
strings (a bracket inside a string does not nest) and runs in linear time; `re`
is imported only then, as it costs milliseconds at every client's start-up.
Decoding is bus.wire_json's (the standard library's C scanner, without `re`).

Standard library only, no `typing`: the client commands load it at start-up.
"""

from __future__ import annotations

from bus.wire_json import loads as _decode

#: Deeper nesting is refused: no message of ours comes near it.
MAX_DEPTH = 32

# A JSON string (unrolled, so each character is looked at once) or a bracket.
_TOKENS = rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]'
_OPEN = frozenset(b"[{")


class JsonLimitError(ValueError):
    """The line nests deeper than allowed (a ValueError, like JSON's own errors)."""


def depth_exceeds(line: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the JSON text in `line` nests arrays/objects deeper than `max_depth`."""
    if line.count(b"[") + line.count(b"{") <= max_depth:
        return False
    import re

    depth = 0
    for match in re.finditer(_TOKENS, line, re.DOTALL):
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token[0] in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads(line: bytes, max_depth: int = MAX_DEPTH) -> object:
    """Decode one JSON text; ValueError if it is not JSON, not UTF-8 or nests too deep."""
    if depth_exceeds(line, max_depth):
        raise JsonLimitError(f"nested deeper than {max_depth} levels")
    try:
        return _decode(line)
    except RecursionError:  # cannot happen below MAX_DEPTH; never let it escape
        raise JsonLimitError("nested too deeply") from None
