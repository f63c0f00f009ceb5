"""`lxc-update-config -c FILE`: rewrite a pre-3.0 container config to LXC 5's keys.

As LXC's script: FILE is first copied to `FILE.backup`, then rewritten in place
(runtime/config/legacy_update.py has the rules); no argument or `-h` prints the
usage and exits 0; a file that cannot be read or written exits 1. Our rewrite goes
through a temporary file and a rename, so FILE is never left half-written.
"""

from __future__ import annotations

import getopt
import os
import shutil
import sys


def _usage(prog: str) -> str:
    return f"{prog} -h|--help [-c|--config]\nconfig: the container configuration to update\n"


def update_file(path: str) -> None:
    """Back FILE up to FILE.backup, then replace it with its rewritten text."""
    from runtime.config.legacy_update import update_text

    shutil.copyfile(path, f"{path}.backup")
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        text = handle.read()
    updated = update_text(text)
    if updated == text:
        return
    temp = f"{path}.update-tmp"
    try:
        with open(temp, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(updated)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise


def main(argv: list[str] | None = None) -> int:
    prog = sys.argv[0] if argv is None else "lxc-update-config"
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stdout.write(_usage(prog))
        return 0
    try:
        options, _rest = getopt.gnu_getopt(args, "c:h", ["config=", "help"])
    except getopt.GetoptError as err:
        sys.stderr.write(f"lxc-update-config: {err}\n")
        return 1
    path = ""
    for option, value in options:
        if option in ("-h", "--help"):
            sys.stdout.write(_usage(prog))
            return 0
        path = value
    if not path:
        sys.stderr.write("lxc-update-config: no config file given (-c FILE)\n")
        return 1
    try:
        update_file(path)
    except OSError as err:
        sys.stderr.write(f"lxc-update-config: {path}: {err.strerror or err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
