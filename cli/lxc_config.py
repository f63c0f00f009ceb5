"""`lxc-config -l | ITEM`: list the system-wide config items, or print one.

LXC's `lxc-config` is a plain program without the common options: no argument,
`-h` or `--help` print its two-line usage (exit 0), `-l` lists the items, an item
prints its value or `ITEM is not set.` (exit 0), anything else is an unknown item
(stderr, exit 1). The values come from runtime/client/global_config.py.
"""

from __future__ import annotations

import sys

USAGE = (
    "Usage: lxc-config -l: list all available configuration items\n"
    "       lxc-config item: print configuration item\n"
)


def main(argv: list[str] | None = None) -> int:
    from runtime.client import global_config

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if args[0] == "-l":
        sys.stdout.write("".join(f"{item}\n" for item in global_config.items()))
        return 0
    try:
        found = global_config.value(args[0])
    except KeyError:
        sys.stderr.write(f"Unknown configuration item: {args[0]}\n")
        return 1
    sys.stdout.write(f"{found}\n" if found is not None else f"{args[0]} is not set.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
