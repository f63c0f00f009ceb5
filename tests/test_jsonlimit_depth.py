"""bus.jsonlimit's nesting bound without `re`: the same answers as a reference scan.

Why: the bound is a guard on lines from untrusted peers, and it now reads the
text with bytes methods (escaped backslashes and quotes dropped, the pieces
outside strings kept); these cases hold escapes, brackets inside strings and
deep nesting, and the reference is the plain character-by-character reading.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bus.jsonlimit import MAX_DEPTH, JsonLimitError, depth_exceeds, loads


def reference_depth(text: bytes) -> int:
    """The deepest nesting of a valid JSON text, read one character at a time."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def nest(levels: int, inner: object = 1) -> object:
    value = inner
    for i in range(levels):
        value = [value] if i % 2 else {"k\\\"[{": value}
    return value


CASES = [
    nest(MAX_DEPTH),
    nest(MAX_DEPTH + 1),
    nest(MAX_DEPTH - 1, "[[[[{{{{" * 10),
    [{"by": "daemon", "step": f"s{i}", "ns": i} for i in range(60)],
    [{"a": "\\" * n + '"' + "[" * 40} for n in range(4)],
    {"s": "\\\\\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "t": nest(MAX_DEPTH - 2)},
    {"s": "ends with a backslash \\", "t": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    ["\u00e9[\"{", nest(5)] * 20,
]


@pytest.mark.parametrize("value", CASES)
def test_depth_bound_agrees_with_a_plain_reading(value: object) -> None:
    text = json.dumps(value).encode()
    assert depth_exceeds(text) == (reference_depth(text) > MAX_DEPTH)
    if reference_depth(text) > MAX_DEPTH:
        with pytest.raises(JsonLimitError):
            loads(text)
    else:
        assert loads(text) == json.loads(text)


def test_a_long_reply_is_decoded_without_re() -> None:
    """A traced start's Started event (many objects) must not import `re` in a command."""
    code = (
        "import sys; from bus.jsonlimit import loads; "
        "loads(b'[' + b','.join(b'{\"a\":[1]}' for _ in range(100)) + b']'); "
        "print('re' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         cwd=__file__.rsplit("/tests/", 1)[0])  # fmt: skip
    assert out.stdout.strip() == "False"
