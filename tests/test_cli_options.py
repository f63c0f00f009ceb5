"""The getopt_long-style option parser the commands use instead of argparse."""

from __future__ import annotations

import pytest

from cli.options import REMAINDER, OptionParser, UsageError


def make_parser(remainder: bool = False) -> OptionParser:
    parser = OptionParser("lxc-test")
    parser.add_argument("-n", "--name")
    parser.add_argument("-c", "--config", action="append")
    parser.add_argument("-s", "--state", action="store_true")
    parser.add_argument("-H", "--no-humanize", action="store_true", dest="raw")
    parser.add_argument("--nesting", nargs="?", const="5")
    parser.add_argument("rest", nargs=REMAINDER if remainder else "*")
    return parser


def test_short_long_attached_and_bundled() -> None:
    args = make_parser().parse_args(["-nfoo", "-sH", "--config=a", "-c", "b", "--config", "c"])
    assert (args.name, args.state, args.raw, args.config) == ("foo", True, True, ["a", "b", "c"])
    assert make_parser().parse_args(["--name", "x"]).name == "x"


def test_defaults_and_optional_argument() -> None:
    args = make_parser().parse_args([])
    assert (args.name, args.state, args.config, args.nesting, args.rest) == (None, False, [], None, [])
    assert make_parser().parse_args(["--nesting"]).nesting == "5"
    assert make_parser().parse_args(["--nesting=2"]).nesting == "2"


def test_positionals_mix_with_options_unless_remainder() -> None:
    args = make_parser().parse_args(["a", "-s", "b"])
    assert (args.rest, args.state) == (["a", "b"], True)
    args = make_parser(remainder=True).parse_args(["-n", "x", "cmd", "-s", "arg"])
    assert (args.name, args.rest, args.state) == ("x", ["cmd", "-s", "arg"], False)
    args = make_parser(remainder=True).parse_args(["-n", "x", "--", "-s"])
    assert args.rest == ["--", "-s"]
    assert make_parser().parse_args(["--", "-s"]).rest == ["-s"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "unrecognized option '--bogus'"),
        (["-x"], "invalid option -- 'x'"),
        (["-c"], "option requires an argument -- 'c'"),
        (["--name"], "option '--name' requires an argument"),
        (["--state=1"], "option '--state' doesn't allow an argument"),
    ],
)
def test_errors_use_getopt_wording(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make_parser().parse_args(argv)
