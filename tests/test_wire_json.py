"""bus.wire_json against the standard library's `json`: same values, same text, same refusals."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus import wire_json

ROOT = Path(__file__).resolve().parent.parent

TEXTS = [
    "0", "-0", "1.5", "-1e400", "1E+2", "123456789012345678901234567890", '""', '"a"',
    '"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"', '"é"', "true", "false", "null", "[]", "{}",
    ' \t\n\r{"a": [1, 2, {"b": null}], "c": "d"} \n', '{"a":1,"a":2}', "NaN", "Infinity",
    "-Infinity", "[NaN, Infinity, -Infinity]", '{"v":1,"op":"start","name":"x"}',
    "[" * 20 + "]" * 20,
]  # fmt: skip

BAD_TEXTS = [
    "", " ", "[", "]", "{", '{"a"}', '{"a":}', '{"a":1,}', "[1,]", "[1 2]", "01", "1.", ".5",
    "+1", "nan", "inf", "True", "None", "'a'", '"a', '"\\x"', '"\\u12"', '"a\nb"', '"\x00"',
    "1 2", "{} x", "[]]", "\ufeff{}", "{1:2}", "-", "-a", "1e", "\\", "/",
]  # fmt: skip


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to itself and types compared too (1 is not 1.0 nor True)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("text", TEXTS)
def test_loads_reads_what_json_reads(text: str) -> None:
    assert same(wire_json.loads(text), json.loads(text))
    assert same(wire_json.loads(text.encode()), json.loads(text.encode()))


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_loads_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        wire_json.loads(text)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


def test_loads_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        wire_json.loads(b'"\xff"')


VALUES: list[object] = [
    0, -1, 2**70, 1.5, -0.0, 1e300, float("nan"), float("inf"), float("-inf"), "", "é😀\n\"\\",
    "\x00\x1f\x7f", True, False, None, [], {}, (1, 2), [1, [2, [3]]], {"a": {"b": [None]}},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_dumps_writes_what_json_writes(value: object) -> None:
    assert wire_json.dumps(value) == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("value", [object(), {(1, 2): 3}, b"bytes", {1, 2}, [1j]], ids=repr)
def test_dumps_refuses_what_json_refuses(value: object) -> None:
    with pytest.raises(TypeError) as expected:
        json.dumps(value, separators=(",", ":"))
    with pytest.raises(TypeError) as got:
        wire_json.dumps(value)
    assert str(got.value) == str(expected.value)


def test_dumps_refuses_a_circular_structure() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        wire_json.dumps(loop)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_round_trips_like_json(value: object) -> None:
    text = wire_json.dumps(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert same(wire_json.loads(text), json.loads(text))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='[]{}",:0123456789.eE+-tfnulrasNIy \\\n', max_size=24))
def test_arbitrary_text_is_read_or_refused_as_json_does(text: str) -> None:
    try:
        expected = json.loads(text)
    except json.JSONDecodeError as err:
        with pytest.raises(json.JSONDecodeError) as got:
            wire_json.loads(text)
        assert (got.value.msg, got.value.pos) == (err.msg, err.pos)
    else:
        assert same(wire_json.loads(text), expected)


def test_importing_it_does_not_import_re() -> None:
    """The point of the module: `json.decoder`/`json.encoder` import `re`."""
    probe = "import sys, bus.wire_json as w; w.loads(w.dumps({'a': [1]})); print(sorted(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for module in ("re", "enum", "json", "json.decoder", "json.encoder"):
        assert f"'{module}'" not in out
