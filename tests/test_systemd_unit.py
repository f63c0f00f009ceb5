"""conf-examples/trio-lxc.service: the boot unit runs lxc-autostart as LXC's does.

Read as systemd reads it (sections, repeated keys), and, where the host has
`systemd-analyze`, verified by it with the commands pointed at this checkout's
lxc-autostart (verify checks that the executables exist)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli

UNIT = Path(__file__).resolve().parent.parent / "conf-examples" / "trio-lxc.service"
INSTALLED = "/usr/local/bin/lxc-autostart"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values in order (systemd allows a key several times)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"line {number}: {line!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_orders_after_the_network_and_runs_lxc_autostart() -> None:
    unit = parse_unit(UNIT.read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    after = " ".join(unit["Unit"]["After"]).split()
    assert {"network.target", "remote-fs.target", "lxc-net.service"} <= set(after)
    service = unit["Service"]
    assert service["Type"] == ["oneshot"] and service["RemainAfterExit"] == ["yes"]
    assert service["ExecStart"] == [f"{INSTALLED} $OPTIONS -g ${{BOOTGROUPS}}"]
    assert service["ExecStop"] == [f"{INSTALLED} $STOPOPTS"]
    environment = dict(v.strip('"').split("=", 1) for v in service["Environment"])
    assert environment == {"BOOTGROUPS": "onboot,", "STOPOPTS": "-a -A -s -t 5"}  # LXC's defaults
    assert service["EnvironmentFile"] == ["-/etc/default/trio-lxc"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_options_it_passes_are_accepted(cli: Cli, lxcpath: Path) -> None:
    """What ExecStart and ExecStop run, with systemd's defaults, on an empty lxcpath."""
    for argv in (["-g", "onboot,"], ["-a", "-A", "-s", "-t", "5"]):
        result = cli("lxc-autostart", *argv)
        assert (result.returncode, result.stderr) == (0, ""), argv


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze on this host")
def test_systemd_analyze_verify_accepts_it(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "lxc-autostart"
    unit = tmp_path / "trio-lxc.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(command)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trio-lxc.service" not in result.stdout + result.stderr
