"""Rewrite the console scripts of the commands that only ask the daemon, to start without `site`.

Why: `site` (the venv's .pth files, the setuptools distutils shim) costs every
command about 2.5 ms of CPU, a quarter of the interpreter's own start-up, and
these commands (lxc-info, lxc-wait, lxc-freeze, ...) need none of it: they import
the standard library and this project. The script pip generates from
pyproject's [project.scripts] is replaced by one with `python -S` in its
shebang and, in its place, the directories `site` would have put on sys.path:
the project's own (where `cli` is found: the source tree of an editable install,
site-packages otherwise) and site-packages, without running any .pth file. A
lazily imported third-party module (none on these paths today) is still found
there, as are PYTHONPATH's entries (-S leaves the environment alone).

Run by `make setup` after `pip install`: `python -m runtime.tools.launchers BINDIR`.
A later `pip install` writes pip's own scripts back, which are just slower.
"""

from __future__ import annotations

import os
import sys
import sysconfig

#: The commands given a lean launcher: the client side only, no site-specific module.
LEAN_COMMANDS = {
    "lxc-info": "cli.lxc_info",
    "lxc-wait": "cli.lxc_wait",
    "lxc-freeze": "cli.lxc_freeze",
    "lxc-unfreeze": "cli.lxc_unfreeze",
    "lxc-ls": "cli.lxc_ls",
    "lxc-cgroup": "cli.lxc_cgroup",
    "lxc-monitor": "cli.lxc_monitor",
    "lxc-stop": "cli.lxc_stop",
    "lxc-start": "cli.lxc_start",
    "lxc-execute": "cli.lxc_execute",
}

#: The lean commands that always end soon after they start, whatever they are asked
#: (no wait, no relay): their launcher turns the cyclic garbage collector off. Its
#: passes over the objects the imports make cost `lxc-info` ~0.4 ms of CPU (~4% of
#: its run); what a cycle would hold is freed at exit a few milliseconds later.
SHORT_LIVED = frozenset({"lxc-info"})

SCRIPT = """\
#!{python} -S
# Written by runtime/tools/launchers.py (`make setup`): started without `site`, its
# directories put on sys.path here, in place of this script's own directory (the
# venv's bin/, where no module is: searching it cost every import). `pip install`
# writes pip's own script back.
import sys
{gc}
sys.path[0:1] = {paths!r}
from {module} import main

if __name__ == "__main__":
    from cli.leave import leave  # exits without the interpreter's tear-down

    leave(main())
"""


def search_path() -> list[str]:
    """Where `site` would find this project and its dependencies, in that order."""
    import cli

    paths = [os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))]
    for key in ("purelib", "platlib"):
        path = sysconfig.get_path(key)
        if path not in paths:
            paths.append(path)
    return paths


def script(module: str, python: str, paths: list[str], short_lived: bool = False) -> str:
    gc = "import gc\n\ngc.disable()  # a short-lived command (launchers.SHORT_LIVED)\n" if short_lived else ""
    return SCRIPT.format(python=python, paths=paths, module=module, gc=gc)


def write(bindir: str) -> list[str]:
    """Rewrite the lean commands' scripts in `bindir` (only those pip installed there)."""
    paths = search_path()
    written = []
    for command, module in LEAN_COMMANDS.items():
        target = os.path.join(bindir, command)
        if not os.path.exists(target):
            continue
        temporary = target + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(script(module, sys.executable, paths, command in SHORT_LIVED))
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)  # a command starting meanwhile reads one or the other
        written.append(command)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    bindir = args[0] if args else os.path.dirname(sys.executable)
    write(bindir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
