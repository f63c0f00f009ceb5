"""JSON decoding with a bound on nesting, for lines that come from untrusted peers.

Why: the standard `json` decoder recurses once per nested array or object, so one
line of 60,000 `[` raises RecursionError (not ValueError) in whoever decodes it;
a daemon that catches only ValueError dies. The depth is checked before decoding,
cheaply: a line with few brackets (most messages) is passed by two C-speed
counts; a line with more is reduced by bytes methods (C speed too) to the brackets
outside its JSON strings (a bracket inside a string does not nest), which are then
counted in one pass. No `re`: a command that reads a long reply (a traced start's
`Started`, ~40 objects) would import it then, ~5 ms in the middle of its run.
Decoding is bus.wire_json's (the standard library's C scanner, without `re`).

Standard library only, no `typing`: the client commands load it at start-up.
"""

from __future__ import annotations

from bus.wire_json import loads as _decode

#: Deeper nesting is refused: no message of ours comes near it.
MAX_DEPTH = 32

_OPEN = frozenset(b"[{")
#: Every byte but the four brackets: deleted before the count.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonLimitError(ValueError):
    """The line nests deeper than allowed (a ValueError, like JSON's own errors)."""


def depth_exceeds(line: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the JSON text in `line` nests arrays/objects deeper than `max_depth`."""
    if line.count(b"[") + line.count(b"{") <= max_depth:
        return False
    # Backslashes are escapes inside strings: drop the escaped backslashes first (pairs,
    # left to right, as JSON reads them), then the escaped quotes; every quote left
    # opens or closes a string, so the even pieces between quotes are outside strings.
    text = bytes(line).replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return False
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
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
