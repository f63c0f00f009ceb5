"""The import rules that keep the commands fast and the layers apart (README, "Layout").

1. Every module of cli/, imported, brings in only the standard library, cli/ itself,
   `runtime.client`, `runtime.kernel` and the bus's blocking client (`bus.client`
   and what it imports): never trio, pyroute2, attrs, cattrs or pyinotify (each costs
   tens of milliseconds at every command's start-up), never `runtime.daemon` or
   `runtime.spawn`. What else a command needs, it imports in the function that
   needs it.
2. `runtime.client` and `runtime.kernel` import only the standard library (and each
   other, and the bus's blocking client's wire format): the commands may import any
   of their modules at start-up. So do the modules of `runtime.oci` that the OCI
   front-end (cli/oci*.py) imports at start-up.
3. The paths commands really take end without importing trio, pyroute2, pyinotify,
   attrs or cattrs either (`-X importtime` on real runs, a container made first).

Each import is checked in a fresh interpreter: sys.modules after the import, minus
what the bare interpreter had.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest
from conftest import unique

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HEAVY = ("trio", "pyroute2", "pyinotify", "attr", "attrs", "cattrs")
NEVER_IN_CLIENTS = ("runtime.daemon", "runtime.spawn")
LEAN_PACKAGES = ("runtime.client", "runtime.kernel")
#: The OCI front-end (cli/oci*.py) reads its own state files and spec nodes from
#: runtime.oci at start-up; those modules are held to the client package's rule.
FRONT_ENDS = {"cli.oci": ("runtime.oci",)}

_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def imported_by(module: str) -> set[str]:
    """The modules importing `module` adds to a fresh interpreter's."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


@cache
def bus_client() -> frozenset[str]:
    """The bus's blocking client and the bus modules it imports."""
    return frozenset(m for m in imported_by("bus.client") if m == "bus" or m.startswith("bus."))


def modules_of(directory: str) -> list[str]:
    package = directory.replace("/", ".")
    return sorted(
        package if path.stem == "__init__" else f"{package}.{path.stem}"
        for path in (ROOT / directory).glob("*.py")
    )


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def outside_rules(modules: set[str], also: tuple[str, ...]) -> list[str]:
    """What is neither the standard library, nor the lean packages, nor `also`."""
    return sorted(
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names
        and m != "runtime"
        and not within(m, LEAN_PACKAGES + also)
        and m not in bus_client()
    )


def front_end_packages(module: str) -> tuple[str, ...]:
    return next((p for prefix, p in FRONT_ENDS.items() if module.startswith(prefix)), ())


@pytest.mark.parametrize("module", modules_of("cli"))
def test_command_modules_import_only_the_client_side(module: str) -> None:
    modules = imported_by(module)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or within(m, NEVER_IN_CLIENTS))
    assert heavy == [], f"{module} imports {heavy} at import time: import it where it is used"
    assert outside_rules(modules, ("cli", *front_end_packages(module))) == []


@pytest.mark.parametrize("module", modules_of("runtime/client") + modules_of("runtime/kernel"))
def test_client_and_kernel_import_only_the_standard_library(module: str) -> None:
    assert outside_rules(imported_by(module), ()) == []


def test_front_end_modules_import_only_the_standard_library() -> None:
    for prefix, packages in FRONT_ENDS.items():
        for command in (m for m in modules_of("cli") if m.startswith(prefix)):
            for module in sorted(m for m in imported_by(command) if within(m, packages)):
                assert outside_rules(imported_by(module), packages) == [], module


def imported_modules(argv: list[str], env: dict[str, str], *, no_site: bool = False) -> set[str]:
    """The modules a command run imports (its -X importtime lines); other tests use it too.
    `no_site`: run it as its launcher does (`-S`, runtime/tools/launchers.py)."""
    flags = ["-S"] if no_site else []
    result = subprocess.run(
        [sys.executable, *flags, "-X", "importtime", *argv], env=env, capture_output=True, text=True
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize(
    "args",
    [
        ["lxc-ls", "-1"],
        ["lxc-ls", "--fancy"],
        ["lxc-ls", "--format", "json"],
        ["lxc-info", "-n", "c1", "--format", "json"],
        ["lxc-top", "-b", "-d", "0"],
        ["lxc-info", "-n", "c1"],
        ["lxc-info", "-n", "c1", "-c", "lxc.net.0.ipv4.address"],
        # The paths below end before any daemon is started: a config that does not
        # load, a container that is not running, an invalid state or regex.
        ["lxc-start", "-n", "c1", "-f", "/nonexistent/trio-lxc.conf"],
        ["lxc-execute", "-n", "c1", "-f", "/nonexistent/trio-lxc.conf", "--", "true"],
        ["lxc-stop", "-n", "c1"],
        ["lxc-wait", "-n", "c1", "-s", "FOO"],
        ["lxc-monitor", "-n", "c1["],
        ["lxc-attach", "-n", "c1", "--", "true"],
        ["lxc-console", "-n", "c1", "-t", "0"],
        ["lxc-freeze", "-n", "c1"],
        ["lxc-unfreeze", "-n", "c1"],
        ["lxc-cgroup", "-n", "c1", "cpu.shares"],
        ["lxc-cgroup", "-n", "c1", "cpu.shares", "512"],
        # The store's commands do their work in their own process, without the daemon.
        ["lxc-create", "-n", "c2", "-t", "none"],
        ["lxc-copy", "-n", "c1", "-N", "c3"],
        ["lxc-destroy", "-n", "c1"],
        ["lxc-checkconfig"],
    ],
)
def test_command_runs_import_nothing_heavy(args, cli, tmp_path: Path, lxc_env) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.2/24\n")
    assert cli("lxc-create", "-n", "c1", "-t", "none", "-f", str(conf)).returncode == 0
    lxcpath = [] if args[0] == "lxc-checkconfig" else ["-P", str(cli.lxcpath)]
    modules = imported_modules([str(BIN / args[0]), *lxcpath, *args[1:]], lxc_env)
    assert "cli." + args[0].replace("-", "_") in modules  # it ran
    if args[0] in ("lxc-start", "lxc-execute", "lxc-stop"):
        assert "runtime.client.daemon_client" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []


#: What the commands that only ask (lxc-info, lxc-wait, lxc-freeze, lxc-unfreeze,
#: lxc-ls) must not load: each costs a command milliseconds at start-up (README,
#: "Speed"). `json.decoder`/`json.encoder` import `re`, which imports `enum`;
#: `socket` imports `enum` and `selectors`; the wire's JSON is bus.wire_json.
NOT_IN_LEAN_RUNS = (
    "re", "enum", "json", "json.decoder", "json.encoder", "logging", "typing", "socket",
    "selectors", "collections", "tokenize", "argparse",
    # `os` and its `_collections_abc`: ~1-1.5 ms (runtime.client.lean_os stands in).
    "os", "_collections_abc",
)  # fmt: skip


#: The module of the messages each lean command sends (the others ask no daemon here).
MESSAGES_OF = {
    "lxc-freeze": "runtime.client.messages_state",
    "lxc-unfreeze": "runtime.client.messages_state",
    "lxc-stop": "runtime.client.messages_start",
    "lxc-execute": "runtime.client.messages_start",
    "lxc-start": "runtime.client.messages_start",
}


@pytest.fixture
def compiled() -> None:
    """Up-to-date .pyc files: a stale one is recompiled from source at every run,
    and reading source imports `tokenize` and `re` (`make setup` compiles too)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "runtime", "bus", "cli"], cwd=ROOT, check=True,
        capture_output=True,
    )  # fmt: skip


def test_lean_commands_on_a_running_container_import_no_costly_module(
    compiled: None, runtime, tmp_path: Path, lxc_env
) -> None:
    name = unique("lean")
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    assert runtime("lxc-start", "-n", name).returncode == 0
    assert runtime("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "30").returncode == 0
    lxcpath = ["-P", str(runtime.lxcpath)]
    time.sleep(0.3)  # past the config stamp's margin after the config was written
    # The first lxc-info checks the config and stamps it (runtime.client.config_stamp),
    # the first -c KEY keeps its answer there; the runs below find them, as every later one does.
    assert runtime("lxc-info", "-n", name).returncode == 0
    assert runtime("lxc-info", "-n", name, "-c", "lxc.uts.name").returncode == 0
    for args in (
        ["lxc-info", "-n", name],
        ["lxc-info", "-n", name, "-s"],
        ["lxc-info", "-n", name, "-c", "lxc.uts.name"],
        ["lxc-wait", "-n", name, "-s", "RUNNING"],
        ["lxc-freeze", "-n", name],
        ["lxc-wait", "-n", name, "-s", "FROZEN"],
        ["lxc-unfreeze", "-n", name],
        ["lxc-ls", "-1"],
        ["lxc-stop", "-n", name, "-k"],
        ["lxc-execute", "-n", name, "--", "/bin/true"],
        ["lxc-start", "-n", name],
        ["lxc-wait", "-n", name, "-s", "RUNNING"],
    ):
        modules = imported_modules([str(BIN / args[0]), *lxcpath, *args[1:]], lxc_env, no_site=True)
        assert "cli." + args[0].replace("-", "_") in modules, args  # it ran
        assert sorted(m for m in NOT_IN_LEAN_RUNS if m in modules) == [], args
        assert "runtime.config.parser" not in modules, args  # -c KEY too: the stamp answers
        # Only the message classes of the ops it sends (runtime.client.control_protocol).
        family = MESSAGES_OF.get(args[0])
        loaded = sorted(m for m in modules if m.startswith("runtime.client.messages_"))
        assert loaded == ([family] if family else []), args
    assert runtime("lxc-info", "-n", name, "-sH").stdout == "RUNNING\n"


#: What `lxc-info -n X` on a running container must not load once its config was
#: checked (runtime.client.config_stamp): the config parser and its key table (with
#: `ipaddress` for address lines), ctypes (runtime.net.addresses reads addresses
#: without setns), and the C extensions it no longer needs (`struct`, `fcntl`).
NOT_IN_LXC_INFO = (
    "ctypes", "_ctypes", "struct", "_struct", "fcntl", "ipaddress", "runtime.config.parser",
    "runtime.config.keys", "runtime.config.values", "runtime.net.info", "runtime.kernel.linux",
)  # fmt: skip


def test_lxc_info_on_a_running_container_loads_no_parser_nor_ctypes(
    compiled: None, runtime, tmp_path: Path, lxc_env
) -> None:

    name = unique("leaninfo")
    conf = tmp_path / "c.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    assert runtime("lxc-create", "-n", name, "-t", "busybox", "-f", str(conf)).returncode == 0
    assert runtime("lxc-start", "-n", name).returncode == 0
    time.sleep(0.3)  # past the stamp's margin after the config was written
    argv = [str(BIN / "lxc-info"), "-P", str(runtime.lxcpath), "-n", name]
    first = imported_modules(argv, lxc_env, no_site=True)
    assert "runtime.config.parser" in first  # the first check parses, and stamps
    for extra in ([], ["-s"], ["-i"], ["-S"], ["-p"]):
        modules = imported_modules(argv + extra, lxc_env, no_site=True)
        assert "cli.lxc_info" in modules and "runtime.client.config_stamp" in modules, extra
        assert sorted(m for m in NOT_IN_LXC_INFO + NOT_IN_LEAN_RUNS if m in modules) == [], extra
    assert runtime("lxc-info", "-n", name, "-sH").stdout == "RUNNING\n"
