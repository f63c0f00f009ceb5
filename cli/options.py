"""A small getopt_long-style option parser for the `lxc-*` commands.

Why not argparse: importing argparse pulls in `re`, `enum`, `gettext` and more,
which costs the client commands more than the rest of their work (the budget is
the bare interpreter's start-up x1.5, see bench/cli_startup.py). LXC's tools use
getopt_long, whose rules are small: bundled short options (`-sH`), an argument
attached or separate (`-cKEY`, `-c KEY`, `--config=KEY`, `--config KEY`), optional
arguments only in attached form (`--nesting=3`), `--` ends the options, and
positional arguments may be mixed with options unless the command takes a command
line after them (`REMAINDER`).

The API mirrors the part of argparse the commands use (`add_argument` with
action/dest/default/nargs/const), so a command reads like an argparse one.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` costs the commands start-up time
    from typing import Any

REMAINDER = "..."


class Namespace:
    """The parsed options, as attributes (like argparse.Namespace)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:
        # Each command's add_argument calls make the attributes, and their types, at
        # run time; a type checker sees them as argparse.Namespace's are seen.
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __repr__(self) -> str:
        return f"Namespace({self.__dict__!r})"


class UsageError(Exception):
    """A bad command line; the message is getopt's wording."""


class Option:
    """One option or positional argument."""

    __slots__ = ("flags", "dest", "action", "default", "nargs", "const")

    def __init__(
        self,
        flags: tuple[str, ...],
        dest: str,
        action: str,
        default: object,
        nargs: str | None,
        const: object,
    ) -> None:
        self.flags = flags
        self.dest = dest
        self.action = action
        self.default = default
        self.nargs = nargs
        self.const = const

    @property
    def takes_value(self) -> bool:
        return self.action in ("store", "append")

    @property
    def is_positional(self) -> bool:
        return not self.flags


class OptionParser:
    """Collects options, then parses an argv list into a Namespace."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self._options: list[Option] = []
        self._short: dict[str, Option] = {}
        self._long: dict[str, Option] = {}

    def add_argument(
        self,
        *flags: str,
        action: str = "store",
        dest: str | None = None,
        default: object = None,
        nargs: str | None = None,
        const: object = None,
    ) -> None:
        """`-x`/`--long` flags, or one bare name for a positional (nargs '*' or REMAINDER)."""
        if len(flags) == 1 and not flags[0].startswith("-"):
            positional = Option((), dest or flags[0], "store", default, nargs or "*", None)
            self._options.append(positional)
            return
        long_flags = [f for f in flags if f.startswith("--")]
        name = dest or (long_flags[0][2:] if long_flags else flags[0][1:]).replace("-", "_")
        if action == "store_true" and default is None:
            default = False
        option = Option(tuple(flags), name, action, default, nargs, const)
        self._options.append(option)
        for flag in flags:
            if flag.startswith("--"):
                self._long[flag[2:]] = option
            else:
                self._short[flag[1:]] = option

    def parse_args(self, argv: list[str]) -> Namespace:
        """Parse argv (without the program name); raises UsageError."""
        values: dict[str, object] = {}
        for option in self._options:
            default = option.default
            if option.action == "append" or (option.is_positional and default is None):
                default = list(default) if isinstance(default, list) else []
            values[option.dest] = default
        positional = next((o for o in self._options if o.is_positional), None)
        rest: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                rest.extend(argv[i - 1 :] if self._keeps_separator(positional) else argv[i:])
                break
            if arg.startswith("--"):
                i = self._long_option(arg, argv, i, values)
            elif arg.startswith("-") and arg != "-":
                i = self._short_options(arg, argv, i, values)
            else:
                rest.append(arg)
                if positional is not None and positional.nargs == REMAINDER:
                    rest.extend(argv[i:])
                    break
        if rest:
            if positional is None:
                raise UsageError(f"unexpected argument '{rest[0]}'")
            values[positional.dest] = rest
        return Namespace(**values)

    @staticmethod
    def _keeps_separator(positional: Option | None) -> bool:
        """A REMAINDER positional sees the `--` (lxc-create passes it on to templates)."""
        return positional is not None and positional.nargs == REMAINDER

    def _long_option(self, arg: str, argv: list[str], i: int, values: dict[str, object]) -> int:
        name, eq, attached = arg[2:].partition("=")
        option = self._long.get(name)
        if option is None:
            raise UsageError(f"unrecognized option '--{name}'")
        if option.takes_value and option.nargs != "?":
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"option '--{name}' requires an argument")
                attached = argv[i]
                i += 1
            self._store(option, attached, values)
        elif option.nargs == "?":
            self._store(option, attached if eq else option.const, values)
        else:
            if eq:
                raise UsageError(f"option '--{name}' doesn't allow an argument")
            self._store(option, None, values)
        return i

    def _short_options(self, arg: str, argv: list[str], i: int, values: dict[str, object]) -> int:
        letters = arg[1:]
        pos = 0
        while pos < len(letters):
            letter = letters[pos]
            pos += 1
            option = self._short.get(letter)
            if option is None:
                raise UsageError(f"invalid option -- '{letter}'")
            if not option.takes_value:
                self._store(option, None, values)
                continue
            attached = letters[pos:]
            if option.nargs == "?":  # an optional argument is attached or absent (getopt "x::")
                self._store(option, attached or option.const, values)
                break
            if not attached:
                if i >= len(argv):
                    raise UsageError(f"option requires an argument -- '{letter}'")
                attached = argv[i]
                i += 1
            self._store(option, attached, values)
            break
        return i

    @staticmethod
    def _store(option: Option, value: str | None | object, values: dict[str, object]) -> None:
        if option.action == "store_true":
            values[option.dest] = True
        elif option.action == "append":
            current = values[option.dest]
            assert isinstance(current, list)
            current.append(value)
        else:
            values[option.dest] = value
