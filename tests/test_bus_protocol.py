"""The sans-IO bus protocol: wire encoding, the streaming decoder, the filter, LXC's lines."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.jsonlimit import depth_exceeds
from bus.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    VALID_STATES,
    BusProtocolError,
    BusRefused,
    CreatedEvent,
    Decoder,
    DestroyedEvent,
    Error,
    ExitEvent,
    Filter,
    InvalidFilter,
    InvalidState,
    Overflow,
    Reconnected,
    SnapshotItem,
    StateEvent,
    Subscribe,
    SubscriberState,
    Synced,
    UnknownMessage,
    decode_line,
    encode,
    exit_status,
    format_exit_line,
    format_state_line,
    parse_states,
)

SAMPLES = [
    Subscribe(["foo", "bar"], ["RUNNING", "STOPPED"], 7, None, "e1"),
    Subscribe(),
    StateEvent(1, 1700000000.25, "foo", "RUNNING", "/var/lib/lxc"),
    ExitEvent(2, 1700000001.5, "foo", 137, None, 9, "/var/lib/lxc"),
    ExitEvent(3, 1700000002.0, "foo", 7, 7, None),
    CreatedEvent(4, 1.0, "new"),
    DestroyedEvent(5, 2.0, "old", "/p"),
    SnapshotItem("foo", "STOPPED", "/p"),
    Synced(5, "abcd", True),
    Synced(0, "abcd"),
    Overflow("too slow"),
    Error("invalid regex"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_encode_decode_round_trip(message) -> None:
    data = encode(message)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    wire = json.loads(data)
    assert wire["v"] == PROTOCOL_VERSION == 2 and wire["type"] == message.TYPE
    assert decode_line(data[:-1]) == message


def test_created_and_destroyed_are_distinct_types() -> None:
    assert CreatedEvent(1, 1.0, "a") != DestroyedEvent(1, 1.0, "a")
    assert not isinstance(DestroyedEvent(1, 1.0, "a"), CreatedEvent)


def test_decoder_handles_partial_lines_byte_by_byte() -> None:
    stream = b"".join(encode(m) for m in SAMPLES)
    decoder = Decoder()
    out = []
    for i in range(len(stream)):
        out.extend(decoder.feed(stream[i : i + 1]))
    assert out == SAMPLES
    assert decoder.pending == 0
    decoder.feed_eof()


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=30))
def test_decoder_any_chunking(cuts: list[int]) -> None:
    stream = b"".join(encode(m) for m in SAMPLES)
    decoder = Decoder()
    out = []
    pos = 0
    for cut in cuts:
        out.extend(decoder.feed(stream[pos : pos + cut]))
        pos += cut
    out.extend(decoder.feed(stream[pos:]))
    assert out == SAMPLES


def test_decoder_several_messages_in_one_chunk_and_blank_lines() -> None:
    data = encode(SAMPLES[2]) + b"\n" + encode(SAMPLES[3])
    assert Decoder().feed(data) == [SAMPLES[2], SAMPLES[3]]


def test_decoder_rejects_oversize_line_without_newline() -> None:
    decoder = Decoder(max_line=100)
    decoder.feed(b"x" * 100)
    with pytest.raises(BusProtocolError, match="longer than 100 bytes"):
        decoder.feed(b"x")


def test_decoder_rejects_oversize_complete_line() -> None:
    decoder = Decoder(max_line=50)
    line = encode(Error("e" * 60))
    with pytest.raises(BusProtocolError, match="longer than 50"):
        decoder.feed(line)


def test_default_line_limit_accepts_big_messages() -> None:
    message = Error("e" * (MAX_LINE - 100))
    assert Decoder().feed(encode(message)) == [message]


def test_truncated_stream_at_eof_is_an_error() -> None:
    decoder = Decoder()
    decoder.feed(encode(SAMPLES[2])[:-5])
    with pytest.raises(BusProtocolError, match="middle of a message"):
        decoder.feed_eof()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "state"}', "version None"),
        (b'{"v": 1, "type": "subscribe", "regex": ".*"}', "version 1"),
        (b'{"v": 2}', "without a 'type'"),
        (b'{"v": 2, "type": "state", "seq": 1, "time": 1.0, "name": "a"}', "field 'state'"),
        (b'{"v": 2, "type": "state", "seq": "1", "time": 1, "name": "a", "state": "X"}', "'seq'"),
        (b'{"v": 2, "type": "subscribe", "states": "RUNNING"}', "'states'"),
        (b'{"v": 2, "type": "subscribe", "names": ["a", 1]}', "'names'"),
        (b'{"v": 2, "type": "subscribe", "since_time": NaN}', "'since_time'"),
        (b'{"v": 2, "type": "synced", "seq": true, "epoch": "e"}', "'seq'"),
        (b"[" * 60_000, "nested deeper"),
        (b'{"a":' * 30_000, "nested deeper"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_lines_are_protocol_errors(line: bytes, reason: str) -> None:
    with pytest.raises(BusProtocolError, match=reason):
        decode_line(line)


def test_unknown_type_is_kept_not_refused() -> None:
    message = decode_line(b'{"v": 2, "type": "future", "x": 1}')
    assert isinstance(message, UnknownMessage)
    assert message.type == "future" and message.data["x"] == 1


def test_reconnected_is_never_sent() -> None:
    with pytest.raises(Exception, match="never sent"):
        encode(Reconnected("overflow"))


# ---------------------------------------------------------------------------- filter


@pytest.mark.parametrize(
    ("regex", "name", "expected"),
    [
        ("foo|bar", "foo", True),
        ("foo|bar", "bar", True),
        ("foo|bar", "foobaz", False),  # LXC's ^foo|bar$ would match this
        ("foo|bar", "xbar", False),
        ("foo", "foo2", False),
        ("foo.*", "foo2", True),
        ("anc-b.*", "anc-b1", True),
        ("anc-b.*", "xanc-b1", False),
        (".*", "anything", True),
        ("web[0-9]+", "web12", True),
        ("web[0-9]+", "web", False),
        ("a|b|c", "b", True),
        ("nomatch", "foo", False),
    ],
)
def test_filter_matches_the_whole_name(regex: str, name: str, expected: bool) -> None:
    assert Filter(regex).matches_name(name) is expected


@pytest.mark.parametrize("regex", ["a(", "[", "*x", "a)|(b", "(?P<"])
def test_invalid_regex_is_a_clear_error(regex: str) -> None:
    with pytest.raises(InvalidFilter, match="invalid regex") as info:
        Filter(regex)
    assert isinstance(info.value, ValueError)
    assert regex in str(info.value)


def test_unknown_state_is_a_clear_error() -> None:
    with pytest.raises(InvalidState, match="invalid state 'FOO'") as info:
        Filter("x", ["RUNNING", "FOO"])
    assert info.value.state == "FOO"
    with pytest.raises(InvalidState, match="'running'"):
        Filter("x", ["running"])  # case matters, as in LXC
    with pytest.raises(InvalidFilter):
        Filter("x", "RUNNING")  # a string is not a list of states


def test_filter_states_narrow_state_events_and_snapshot_only() -> None:
    flt = Filter("foo|bar", ["RUNNING"])
    assert flt.matches(StateEvent(1, 1.0, "foo", "RUNNING"))
    assert not flt.matches(StateEvent(1, 1.0, "foo", "STOPPED"))
    assert not flt.matches(StateEvent(1, 1.0, "foobaz", "RUNNING"))
    assert flt.matches(SnapshotItem("bar", "RUNNING"))
    assert not flt.matches(SnapshotItem("bar", "FROZEN"))
    assert flt.matches(ExitEvent(2, 1.0, "foo", 0, 0))
    assert flt.matches(DestroyedEvent(2, 1.0, "bar"))
    assert not flt.matches(ExitEvent(2, 1.0, "baz", 0, 0))


def test_subscribe_selection_validates_and_never_holds_a_regex() -> None:
    selection = Subscribe(["a", "b"], ["STOPPED"]).selection()
    assert selection.wants("b", "STOPPED") and selection.wants("a", None)
    assert not selection.wants("b", "RUNNING") and not selection.wants("ab", None)
    assert Subscribe().selection().wants("anything", "RUNNING")
    with pytest.raises(InvalidState):
        Subscribe(["a"], ["NOPE"]).selection()
    assert "regex" not in Subscribe().to_wire()


@pytest.mark.parametrize(
    ("regex", "names"),
    [
        ("foo", ["foo"]),
        ("foo|bar", ["bar", "foo"]),
        (re.escape("my.ct-1"), ["my.ct-1"]),
        (".*", None),
        ("foo|", None),
        ("fo+", None),
        ("(a|aa)*b", None),
        (r"a\d", None),
    ],
)
def test_plain_names_are_sent_as_names(regex: str, names: list[str] | None) -> None:
    flt = Filter(regex)
    assert flt.exact_names() == names
    assert Subscribe.for_filter(flt).names == names
    for name in names or ():
        assert flt.matches_name(name)


def test_regex_too_deep_for_the_compiler_is_an_invalid_filter() -> None:
    with pytest.raises(InvalidFilter, match="invalid regex"):
        Filter("(" * 5000 + "a" + ")" * 5000)


def test_depth_scan_skips_strings_and_bounds_nesting() -> None:
    assert not depth_exceeds(b'{"regex": "' + b"[" * 1000 + b'"}')
    assert not depth_exceeds(b'{"a": "\\"}' + b"[]" * 100)
    assert depth_exceeds(b"[" * 33)
    assert not depth_exceeds(b"[" * 32 + b"]" * 32)


def test_parse_states() -> None:
    assert parse_states("RUNNING|STOPPED") == {"RUNNING", "STOPPED"}
    assert parse_states("FROZEN") == {"FROZEN"}
    with pytest.raises(InvalidState, match="invalid state 'FOO'"):
        parse_states("RUNNING|FOO")
    with pytest.raises(InvalidState, match="invalid state ''"):
        parse_states("RUNNING|")
    assert set(VALID_STATES) == set(parse_states("|".join(VALID_STATES)))


# ---------------------------------------------------------------------------- LXC's lines


def test_lxc_lines() -> None:
    assert format_state_line("anc-b1", "RUNNING") == "'anc-b1' changed state to [RUNNING]"
    assert format_exit_line("anc-b1", 7) == "'anc-b1' exited with status [7]"
    assert StateEvent(1, 1.0, "c", "STOPPED").line() == "'c' changed state to [STOPPED]"
    assert ExitEvent(1, 1.0, "c", exit_status(None, 9), None, 9).line() == (
        "'c' exited with status [137]"
    )


def test_exit_status() -> None:
    assert exit_status(7, None) == 7
    assert exit_status(None, 9) == 137
    assert exit_status(None, 15) == 143
    assert exit_status(255, None) == 255
    assert exit_status(None, None) == 0


# ---------------------------------------------------------------------------- client bookkeeping


def test_subscriber_state_tracks_seq_and_resubscribes_since() -> None:
    state = SubscriberState(Subscribe(["a"], None))
    assert state.resubscribe_request() == Subscribe(["a"], None)
    out: list = []
    assert state.receive([SnapshotItem("a", "STOPPED"), Synced(4, "ep")], out)
    assert state.synced and state.last_seq == 4
    assert state.receive([StateEvent(5, 1.0, "a", "STARTING")], out)
    assert state.resubscribe_request() == Subscribe(["a"], None, 5, None, "ep")
    assert not state.receive([StateEvent(6, 1.0, "a", "RUNNING"), Overflow("x")], out)
    assert [type(m) for m in out] == [SnapshotItem, Synced, StateEvent, StateEvent]
    with pytest.raises(BusRefused, match="nope"):
        state.receive([Error("nope")], out)


def test_subscriber_state_applies_the_regex_but_counts_every_event() -> None:
    state = SubscriberState(Subscribe(), Filter("web.*"))
    out: list = []
    state.receive(
        [
            SnapshotItem("web1", "RUNNING"),
            SnapshotItem("db", "RUNNING"),
            Synced(4, "ep"),
            StateEvent(5, 1.0, "db", "STOPPING"),
            StateEvent(6, 1.0, "web2", "STARTING"),
            StateEvent(7, 1.0, "db", "STOPPED"),
        ],
        out,
    )
    assert [getattr(m, "name", None) for m in out] == ["web1", None, "web2"]
    assert state.last_seq == 7  # a reconnect replays after the last event seen, shown or not
