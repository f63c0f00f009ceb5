"""`lxc-info -i` on a container in its own user namespace (lxc.idmap): the host asks
the kernel about a network namespace another user namespace owns, by its namespace
id (runtime.net.addresses), as root may. Its own module: it takes test_userns's
`lxcpath` (reachable by the mapped ids) and `subids` fixtures."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import Cli
from test_userns import create, lxcpath, map_lines, start, subids  # noqa: F401  (fixtures)


def test_addresses_of_a_container_with_its_own_user_namespace(
    runtime: Cli, tmp_path: Path, subids: int  # noqa: F811
) -> None:
    name = create(runtime, tmp_path, "lxc.net.0.type = empty\n" + map_lines(subids))
    pid = start(runtime, name)
    for args in (["10.9.9.9/24", "dev", "lo", "label", "lo:1"], ["fd99::9/64", "dev", "lo"]):
        subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "addr", "add", *args], check=True, timeout=20)
    shown = runtime("lxc-info", "-n", name, "-iH")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "10.9.9.9\n"  # lo's IPv6 is not shown, a labelled IPv4 on lo is
