"""The lean launchers `make setup` writes (runtime/tools/launchers.py): they run the
command, and start without `site`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runtime.tools import launchers


def test_launchers_run_the_command_without_site(tmp_path: Path) -> None:
    (tmp_path / "lxc-info").write_text("pip's script\n")
    assert launchers.write(str(tmp_path)) == ["lxc-info"]  # only what pip installed there
    script = tmp_path / "lxc-info"
    assert script.read_text().startswith(f"#!{sys.executable} -S\n")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "trio-lxc" in result.stdout
    # The shebang's -S, with importtime to see it: `site` is never imported.
    timed = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", str(script), "--version"], capture_output=True, text=True
    )
    imported = {line.rsplit("|", 1)[1].strip() for line in timed.stderr.splitlines() if "|" in line}
    assert "cli.lxc_info" in imported
    assert "site" not in imported


def test_the_installed_lean_commands_are_launchers() -> None:
    """`make setup` wrote them (a plain `pip install` would leave pip's scripts)."""
    bindir = Path(sys.executable).parent
    for command in launchers.LEAN_COMMANDS:
        assert (bindir / command).read_text().splitlines()[0].endswith(" -S"), command


def test_only_short_lived_commands_run_without_the_cyclic_collector(tmp_path: Path) -> None:
    """lxc-info ends soon whatever it is asked: no collector passes; lxc-wait may wait
    for hours, lxc-execute relays a console: they keep it."""
    for command in ("lxc-info", "lxc-wait", "lxc-execute"):
        (tmp_path / command).write_text("pip's script\n")
    launchers.write(str(tmp_path))
    probe = "import gc, runpy, sys; sys.argv[1:] = ['--version']; gc.enable(); "
    for command, enabled in (("lxc-info", "False"), ("lxc-wait", "True")):
        code = probe + f"runpy.run_path({str(tmp_path / command)!r}, run_name='not_main'); print(gc.isenabled())"
        result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == enabled, command
    assert "gc.disable()" not in (tmp_path / "lxc-execute").read_text()
