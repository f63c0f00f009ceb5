"""runtime.cgroups against real cgroups (root), and its pure planning parts.

The machine is hybrid (v1 controllers + a cgroup2 mount). Each behaviour that
differs by backend runs three times: on the real hybrid view, on a v1-only view
(`CgroupMounts.only(1)`, a legacy host) and on a v2-only view (`.only(2)`, a pure
cgroup2 host without controllers), so both backends are exercised here.

Every test uses a unique name (`tlxctest-<uuid8>`) and the `track` fixture removes
whatever carries that name from every hierarchy, even when the test fails. The test
process is a child subreaper during each test, so the orphans a killed shell leaves
are reaped here instead of staying zombies under a pid 1 that does not reap.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio

from runtime.cgroups import (
    CgroupBusy,
    CgroupError,
    CgroupMounts,
    CgroupSettingError,
    CgroupUnknownKey,
    CgroupWatcher,
    ContainerCgroups,
    Hierarchy,
    _fs,
    cleanup_stale,
    discover,
    events,
)
from runtime.cgroups.layout import plan, relative_paths
from runtime.cgroups.mounts import parse_mountinfo, parse_proc_cgroup
from runtime.cgroups.settings import DEVICES_UNSUPPORTED, route
from runtime.config import model
from runtime.kernel import linux

REAL = discover()
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or REAL.layout == "none", reason="needs root and mounted cgroups"
)
needs_hybrid = pytest.mark.skipif(REAL.layout != "hybrid", reason="needs a hybrid host")


def config(text: str = "") -> object:
    return model.loads(text)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def name() -> str:
    return f"tlxctest-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["hybrid", "legacy", "unified"])
def mounts(request: pytest.FixtureRequest) -> CgroupMounts:
    """The host as it is, as a legacy host, as a pure cgroup2 host."""
    if REAL.layout != "hybrid":
        pytest.skip("the three views need a hybrid host")
    return {"hybrid": REAL, "legacy": REAL.only(1), "unified": REAL.only(2)}[request.param]


def leftovers(name: str) -> list[str]:
    """Every cgroup directory whose name contains `name`, below any hierarchy's top."""
    found = []
    for hierarchy in REAL.hierarchies:
        found += glob.glob(os.path.join(glob.escape(hierarchy.mountpoint), f"*{name}*"))
    return sorted(found)


def _force_remove(top: str) -> None:
    for directory, _dirs, _files in os.walk(top, topdown=False):
        for _ in range(200):
            try:
                procs = Path(directory, "cgroup.procs").read_text().split()
                for pid in procs:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                for file, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                    if os.path.exists(os.path.join(directory, file)):
                        Path(directory, file).write_text(value)
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                time.sleep(0.01)


def _reap_zombie_children() -> None:
    me = os.getpid()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] == "Z":
            try:
                os.waitpid(int(stat.split("/")[2]), os.WNOHANG)
            except ChildProcessError:
                pass


@pytest.fixture
def track(name: str) -> Iterator[SimpleNamespace]:
    """Processes and cgroups to clean up whatever happens; orphans reaped here."""
    state = SimpleNamespace(procs=[], cgroups=[])
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield state
    finally:
        for proc in state.procs:
            proc.kill()
            proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        for cgroup in state.cgroups:
            try:
                cgroup.kill_all()
                cgroup.destroy()
            except CgroupError:
                pass
        for top in leftovers(name):
            _force_remove(top)
        deadline = time.monotonic() + 2
        _reap_zombie_children()
        while time.monotonic() < deadline and any(
            Path(p).read_text().rpartition(")")[2].split()[1] == str(os.getpid())
            for p in glob.glob("/proc/[0-9]*/stat")
            if os.path.exists(p)
        ):
            time.sleep(0.01)
            _reap_zombie_children()
        # The flag stays set: the session's `subreaper` fixture (conftest) relies on it
        # for every later test (clearing it here made daemon re-adoption tests of
        # later files lose their orphans).


def start(track: SimpleNamespace, script: str) -> subprocess.Popen[bytes]:
    """A shell that waits for a line on stdin ("go") before running `script`, so the
    test can attach it first, as the runtime attaches a container's init."""
    proc = subprocess.Popen(["sh", "-c", f"read go; {script}"], stdin=subprocess.PIPE)
    track.procs.append(proc)
    return proc


def go(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    proc.stdin.close()


def create(track: SimpleNamespace, name: str, text: str = "", **kw: object) -> ContainerCgroups:
    cg = ContainerCgroups.create(name, config(text), **kw)
    track.cgroups.append(cg)
    return cg


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


# -- discovery and planning (no root needed) ----------------------------------------------

MOUNTINFO = r"""
24 1 0:22 / /sys rw - sysfs sysfs rw
31 24 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
33 31 0:30 /lxc.payload.c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory,clone_children
34 31 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
35 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/un\040ified rw - cgroup2 cgroup2 rw,nsdelegate
"""


def test_parse_mountinfo_v1_named_comounted_and_v2() -> None:
    v1, v2 = parse_mountinfo(MOUNTINFO)
    assert [h.key for h in v1] == ["cpu,cpuacct", "memory", "name=systemd"]
    assert v1[1].root == "/lxc.payload.c1"
    assert v2 == Hierarchy(2, "/sys/fs/cgroup/un ified", "/")
    own = parse_proc_cgroup("3:name=systemd:/a\n2:cpuacct,cpu:/b\n1:memory:/c\n0::/d\n", v1)
    assert own == {"name=systemd": "/a", "cpu,cpuacct": "/b", "memory": "/c", "unified": "/d"}
    # A mount of a sub-tree (inside a container) translates cgroup paths through it.
    assert v1[1].dir_of("/lxc.payload.c1/x") == "/sys/fs/cgroup/memory/x"
    assert v1[1].dir_of("/elsewhere") is None


def test_discover_reads_this_host() -> None:
    mounts = discover()
    for hierarchy in mounts.v1:
        assert os.path.isdir(hierarchy.mountpoint)
    if mounts.v2 is not None:
        assert os.path.exists(os.path.join(mounts.v2.mountpoint, "cgroup.procs"))
    assert mounts.only(1).layout in ("legacy", "none")
    assert mounts.only(2).layout in ("unified", "none")


FAKE = CgroupMounts(
    (Hierarchy(1, "/cg/memory", "/", ("memory",)), Hierarchy(1, "/cg/devices", "/", ("devices",))),
    Hierarchy(2, "/cg/unified"),
    {"memory": "/daemon", "devices": "/", "unified": "/daemon"},
)


@pytest.mark.parametrize(
    ("text", "limit", "payload"),
    [
        ("", "lxc.payload.c", "lxc.payload.c"),
        ("lxc.cgroup.dir = a/b", "a/b/lxc.payload.c", "a/b/lxc.payload.c"),
        ("lxc.cgroup.dir.container = box", "box", "box"),
        (
            "lxc.cgroup.dir.container = box\nlxc.cgroup.dir.container.inner = ns",
            "box",
            "box/ns",
        ),
    ],
)
def test_layout_paths(text: str, limit: str, payload: str) -> None:
    assert relative_paths("c", config(text)) == (limit, payload)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("lxc.cgroup.dir = /abs", "lxc.cgroup.dir"),
        ("lxc.cgroup.dir = a/../../b", "lxc.cgroup.dir"),
        ("lxc.cgroup.dir = a\nlxc.cgroup.dir.container = b", "lxc.cgroup.dir"),
        ("lxc.cgroup.dir.container.inner = x", "lxc.cgroup.dir.container.inner"),
    ],
)
def test_layout_refuses(text: str, key: str) -> None:
    with pytest.raises(CgroupSettingError) as info:
        relative_paths("c", config(text))
    assert info.value.key == key


def test_layout_relative_uses_own_cgroup() -> None:
    placed = {p.hierarchy.key: p for p in plan("c", config("lxc.cgroup.relative = 1"), FAKE)}
    assert placed["memory"].payload == "/cg/memory/daemon/lxc.payload.c"
    assert placed["devices"].payload == "/cg/devices/lxc.payload.c"
    assert placed["unified"].base == "/cg/unified/daemon"


def test_route_order_and_controllers() -> None:
    cfg = config(
        "lxc.cgroup.memory.memsw.limit_in_bytes = 2G\n"
        "lxc.cgroup.memory.limit_in_bytes = 1G\n"
        "lxc.cgroup.devices.deny = a\n"
        "lxc.cgroup.devices.allow = c 1:3 rwm\n"
        "lxc.cgroup2.memory.max = 1G\n"
    )
    writes, warnings = route(cfg, FAKE)
    assert [(w.config_key, w.hierarchy.key, w.value) for w in writes] == [
        ("lxc.cgroup.memory.limit_in_bytes", "memory", "1G"),
        ("lxc.cgroup.memory.memsw.limit_in_bytes", "memory", "2G"),
        ("lxc.cgroup.devices.deny", "devices", "a"),
        ("lxc.cgroup.devices.allow", "devices", "c 1:3 rwm"),
        ("lxc.cgroup2.memory.max", "unified", "1G"),
    ]
    assert warnings == []
    with pytest.raises(CgroupSettingError, match=r"^lxc\.cgroup\.cpu\.shares: no cgroup v1"):
        route(config("lxc.cgroup.cpu.shares = 5"), FAKE)
    with pytest.raises(CgroupSettingError, match="not a cgroup file name"):
        route(SimpleNamespace(cgroup={"../memory.x": ["1"]}, cgroup2={}), FAKE)


def test_route_device_rules_per_host_kind() -> None:
    both = config(
        "lxc.cgroup.devices.deny = a\nlxc.cgroup2.devices.deny = a\nlxc.cgroup.cpu.shares = 9\n"
    )
    v2_only_rules = config("lxc.cgroup2.devices.deny = a\nlxc.cgroup2.devices.allow = c 1:3 rwm\n")
    # Hybrid with v1 devices, both sets (Debian's common.conf): v2 rules skipped.
    writes, warnings = route(
        config("lxc.cgroup.devices.deny = a\nlxc.cgroup2.devices.deny = a"), FAKE
    )
    assert [w.config_key for w in writes] == ["lxc.cgroup.devices.deny"]
    assert len(warnings) == 1 and warnings[0].startswith("lxc.cgroup2.devices.deny: skipped")
    # Only v2 rules: enforced by the v1 devices hierarchy, same syntax.
    writes, _ = route(v2_only_rules, FAKE)
    assert [(w.hierarchy.key, w.filename, w.value) for w in writes] == [
        ("devices", "devices.deny", "a"),
        ("devices", "devices.allow", "c 1:3 rwm"),
    ]
    # Pure cgroup2: device rules cannot be enforced, other v1 keys are ignored.
    pure_v2 = FAKE.only(2)
    with pytest.raises(CgroupSettingError) as info:
        route(both, pure_v2)
    assert str(info.value) == f"lxc.cgroup2.devices.*: {DEVICES_UNSUPPORTED}"
    with pytest.raises(CgroupSettingError, match=r"^lxc\.cgroup\.devices\.\*: "):
        route(config("lxc.cgroup.devices.deny = a"), pure_v2)
    writes, warnings = route(config("lxc.cgroup.cpu.shares = 9"), pure_v2)
    assert writes == [] and "ignored" in warnings[0]
    # Pure v1: a cgroup2 limit has nowhere to go.
    with pytest.raises(CgroupSettingError, match="no cgroup2 hierarchy"):
        route(config("lxc.cgroup2.memory.max = 1G"), FAKE.only(1))


# -- real cgroups -----------------------------------------------------------------------


@needs_root
@needs_hybrid
def test_create_applies_v1_settings(track: SimpleNamespace, name: str) -> None:
    cg = create(
        track,
        name,
        "lxc.cgroup.memory.limit_in_bytes = 64M\n"
        "lxc.cgroup.cpu.shares = 512\n"
        "lxc.cgroup.pids.max = 20\n"
        "lxc.cgroup.devices.deny = a\n"
        "lxc.cgroup.devices.allow = c 1:3 rwm\n"
        "lxc.cgroup.devices.allow = c 5:0 rwm\n",
    )
    paths = cg.paths
    assert set(paths) == {h.key for h in REAL.hierarchies}
    for hierarchy in REAL.hierarchies:
        assert paths[hierarchy.key] == os.path.join(hierarchy.mountpoint, f"lxc.payload.{name}")
        assert os.path.isdir(paths[hierarchy.key])

    def read(key: str, file: str) -> str:
        return Path(paths[key], file).read_text()

    assert read("memory", "memory.limit_in_bytes") == "67108864\n"
    assert read("cpu", "cpu.shares") == "512\n"
    assert read("pids", "pids.max") == "20\n"
    assert read("devices", "devices.list") == "c 1:3 rwm\nc 5:0 rwm\n"
    # cpuset initialised from the parent, children inherit.
    root_cpuset = REAL.v1_for("cpuset")
    assert root_cpuset is not None
    assert read("cpuset", "cpuset.cpus") == Path(root_cpuset.mountpoint, "cpuset.cpus").read_text()
    assert read("cpuset", "cpuset.mems").strip()
    assert read("cpuset", "cgroup.clone_children") == "1\n"
    cg.destroy()
    assert leftovers(name) == []
    cg.destroy()  # twice is fine


@needs_root
@needs_hybrid
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lxc.cgroup.devices.allow = c 1:3 rwm\nlxc.cgroup.devices.deny = a\n", ""),
        ("lxc.cgroup.devices.deny = a\nlxc.cgroup.devices.allow = c 1:3 rwm\n", "c 1:3 rwm\n"),
        # Only cgroup2 rules on a host with the v1 devices controller: enforced there.
        ("lxc.cgroup2.devices.deny = a\nlxc.cgroup2.devices.allow = c 1:9 rwm\n", "c 1:9 rwm\n"),
    ],
)
def test_device_rules_in_order(track: SimpleNamespace, name: str, text: str, expected: str) -> None:
    cg = create(track, name, text)
    assert Path(cg.paths["devices"], "devices.list").read_text() == expected


@needs_root
@needs_hybrid
def test_debian_common_conf_device_rules_start_on_hybrid(track: SimpleNamespace, name: str) -> None:
    common = "/usr/share/lxc/config/common.conf"
    if not os.path.exists(common):
        pytest.skip("lxc's common.conf is not installed")
    lines = [
        line
        for line in Path(common).read_text().splitlines()
        if line.startswith(("lxc.cgroup.devices", "lxc.cgroup2.devices"))
    ]
    cg = create(track, name, "\n".join(lines) + "\n")
    assert "c 1:3 rwm" in Path(cg.paths["devices"], "devices.list").read_text()
    assert cg.warnings and all("skipped" in w for w in cg.warnings)


@needs_root
@pytest.mark.parametrize("layout", ["hybrid", "unified"])
def test_cgroup2_setting(track: SimpleNamespace, name: str, layout: str) -> None:
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")
    mounts = REAL if layout == "hybrid" else REAL.only(2)
    cg = create(track, name, "lxc.cgroup2.cgroup.max.descendants = 5\n", mounts=mounts)
    assert Path(cg.paths["unified"], "cgroup.max.descendants").read_text() == "5\n"


@needs_root
@needs_hybrid
@pytest.mark.parametrize(
    ("layout", "text", "message"),
    [
        (
            "hybrid",
            "lxc.cgroup.cpu.shares = 512\nlxc.cgroup.memory.limit_in_bytes = abc\n",
            "lxc.cgroup.memory.limit_in_bytes: cannot write 'abc' to"
            " /sys/fs/cgroup/memory/lxc.payload.{name}/memory.limit_in_bytes: Invalid argument",
        ),
        (
            "hybrid",
            "lxc.cgroup.dir = {name}-top/sub\nlxc.cgroup.pids.max = lots\n",
            "lxc.cgroup.pids.max: cannot write 'lots' to"
            " /sys/fs/cgroup/pids/{name}-top/sub/lxc.payload.{name}/pids.max: Invalid argument",
        ),
        (
            "unified",
            "lxc.cgroup2.cgroup.max.depth = deep\n",
            "lxc.cgroup2.cgroup.max.depth: cannot write 'deep' to"
            " /sys/fs/cgroup/unified/lxc.payload.{name}/cgroup.max.depth: Invalid argument",
        ),
        (
            "hybrid",
            "lxc.cgroup2.memory.max = 1G\n",
            "lxc.cgroup2.memory.max: cannot write '1G' to"
            " /sys/fs/cgroup/unified/lxc.payload.{name}/memory.max: No such file or directory"
            " (the memory controller is not enabled for this cgroup; cgroup2 offers: hugetlb)",
        ),
    ],
)
def test_bad_value_names_key_and_leaves_nothing(
    track: SimpleNamespace, name: str, layout: str, text: str, message: str
) -> None:
    mounts = REAL if layout == "hybrid" else REAL.only(2)
    if "offers: hugetlb" in message:
        offered = " ".join(REAL.v2.controllers) if REAL.v2 else ""
        message = message.replace("offers: hugetlb", f"offers: {offered or 'none'}")
    with pytest.raises(CgroupSettingError) as info:
        create(track, name, text.format(name=name), mounts=mounts)
    assert str(info.value) == message.format(name=name)
    assert leftovers(name) == []


@needs_root
async def test_attach_puts_process_in_every_hierarchy(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    cg = create(track, name, mounts=mounts)
    proc = start(track, "exec sleep 30")
    cg.attach(proc.pid)
    for key, directory in cg.paths.items():
        assert str(proc.pid) in Path(directory, "cgroup.procs").read_text().split(), key
    assert {h.key for h in cg.hierarchies} == {h.key for h in mounts.hierarchies}
    go(proc)
    assert cg.pids() == {proc.pid}
    assert cg.is_populated()
    with pytest.raises(CgroupBusy, match="processes remain"):
        cg.destroy()  # refused at once, nothing removed
    assert all(os.path.isdir(d) for d in cg.paths.values())
    cg.kill_all()
    with trio.fail_after(2):
        await cg.wait_empty()
    assert not cg.is_populated()
    cg.destroy()
    assert leftovers(name) == []


@needs_root
async def test_a_process_in_a_nested_cgroup_is_found_and_the_tree_removed(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    """The clean-up looks below a cgroup only when its link count says it has
    children (runtime.cgroups._fs): a process the container put into a cgroup of
    its own is still found, killed, and the whole tree removed."""
    cg = create(track, name, mounts=mounts)
    assert not any(_fs.may_have_children(d) for d in cg.paths.values())
    proc = start(track, "exec sleep 30")
    nested = [os.path.join(d, "inner", "deeper") for d in cg.paths.values()]
    for directory in nested:
        os.makedirs(directory)
        Path(directory, "cgroup.procs").write_text(f"{proc.pid}\n")
    assert all(_fs.may_have_children(d) for d in cg.paths.values())
    go(proc)
    assert cg.pids() == {proc.pid} and cg.is_populated()
    with pytest.raises(CgroupBusy, match="processes remain"):
        cg.destroy()
    cg.kill_all()
    with trio.fail_after(2):
        await cg.wait_empty()
    assert not cg.is_populated()
    cg.destroy()
    assert leftovers(name) == []


def test_fs_read_gives_the_kernel_text_and_missing_is_an_error(tmp_path: Path) -> None:
    assert _fs.read("/proc/self/cgroup").endswith("\n")
    big = tmp_path / "big"
    big.write_text("x" * 200_000 + "\n")
    assert _fs.read(str(big)) == "x" * 200_000 + "\n"
    with pytest.raises(FileNotFoundError):
        _fs.read(str(tmp_path / "missing"))
    _fs.remove_tree(str(tmp_path / "missing"))  # nothing to remove: fine


@needs_root
async def test_fork_bomb_is_fully_killed(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    cg = create(track, name, mounts=mounts)
    proc = start(track, "for i in $(seq 200); do sleep 30 & done; wait")
    cg.attach(proc.pid)
    go(proc)
    with trio.fail_after(5):
        while len(cg.pids()) < 150:
            await trio.sleep(0.01)
    victims = cg.pids()
    cg.kill_all()
    with trio.fail_after(5):
        await cg.wait_empty()
    assert cg.pids() == set()
    for pid in victims:  # dead (or a zombie waiting for us), not escaped
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            continue
        assert state in ("Z", "X"), (pid, state)
    cg.destroy()
    assert leftovers(name) == []


@needs_root
async def test_freeze_stops_a_busy_loop(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    cg = create(track, name, mounts=mounts)
    proc = start(track, "while :; do :; done")
    cg.attach(proc.pid)
    go(proc)
    assert cg.freezer_state() == "THAWED"
    cg.freeze()
    with trio.fail_after(2):
        await cg.wait_frozen()
    assert cg.last_wait == ("poll" if mounts.v2 is None else "inotify")
    assert cg.freezer_state() == "FROZEN"
    before = cpu_ticks(proc.pid)
    await trio.sleep(0.3)
    assert cpu_ticks(proc.pid) == before
    cg.thaw()
    assert cg.freezer_state() == "THAWED"
    await trio.sleep(0.3)
    assert cpu_ticks(proc.pid) > before
    # A frozen container can be killed (lxc-stop of a frozen container).
    cg.freeze()
    with trio.fail_after(2):
        await cg.wait_frozen()
    cg.kill_all()
    with trio.fail_after(2):
        await cg.wait_empty()
    cg.destroy()
    assert leftovers(name) == []


@needs_root
@pytest.mark.parametrize("layout", ["hybrid", "unified"])
async def test_wait_empty_uses_inotify_on_v2(
    track: SimpleNamespace, name: str, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")
    mounts = REAL if layout == "hybrid" else REAL.only(2)

    async def no_polling(*args: object, **kwargs: object) -> None:
        raise AssertionError("wait_empty polled on a cgroup2 host")

    monkeypatch.setattr(events, "poll_until", no_polling)
    cg = create(track, name, mounts=mounts)
    proc = start(track, "exec sleep 0.3")
    cg.attach(proc.pid)
    go(proc)
    started = time.monotonic()
    with trio.fail_after(2):
        await cg.wait_empty()
    elapsed = time.monotonic() - started
    assert proc.wait() == 0
    assert cg.last_wait == "inotify"
    assert 0.25 < elapsed < 0.3 + 2  # loaded CI: the bound only catches a hang


@needs_root
@needs_hybrid
async def test_wait_empty_polls_on_v1_only(track: SimpleNamespace, name: str) -> None:
    cg = create(track, name, mounts=REAL.only(1))
    proc = start(track, "exec sleep 0.2")
    cg.attach(proc.pid)
    go(proc)
    started = time.monotonic()
    with trio.fail_after(2):
        await cg.wait_empty()
    assert time.monotonic() - started < 0.2 + 0.5
    assert cg.last_wait == "poll"


@needs_root
async def test_from_paths_round_trip(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    cg = create(track, name, "lxc.cgroup.relative = 0\n", mounts=mounts)
    proc = start(track, "exec sleep 30")
    cg.attach(proc.pid)
    record = json.loads(json.dumps({"paths": cg.paths, "limits": cg.limit_paths}))
    again = ContainerCgroups.from_paths(record["paths"], record["limits"])
    track.cgroups.append(again)
    assert again.paths == cg.paths
    assert again.limit_paths == cg.limit_paths
    assert again.pids() == {proc.pid}
    again.kill_all()
    with trio.fail_after(2):
        await again.wait_empty()
    again.destroy()
    assert leftovers(name) == []


@needs_root
@needs_hybrid
def test_leftover_empty_cgroup_is_replaced(track: SimpleNamespace, name: str) -> None:
    memory = REAL.v1_for("memory")
    assert memory is not None and REAL.v2 is not None
    stale = os.path.join(memory.mountpoint, f"lxc.payload.{name}")
    os.makedirs(os.path.join(stale, "nested"))
    Path(stale, "memory.limit_in_bytes").write_text("32M")
    os.mkdir(os.path.join(REAL.v2.mountpoint, f"lxc.payload.{name}"))
    cg = create(track, name, "lxc.cgroup.pids.max = 7\n")
    assert Path(stale, "memory.limit_in_bytes").read_text() != "33554432\n"
    assert not os.path.exists(os.path.join(stale, "nested"))
    assert Path(cg.paths["pids"], "pids.max").read_text() == "7\n"


@needs_root
def test_cgroup_with_processes_is_busy(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    cg = create(track, name, "", mounts=mounts)
    proc = start(track, "exec sleep 30")
    cg.attach(proc.pid)
    with pytest.raises(CgroupBusy, match="a container of that name is running"):
        ContainerCgroups.create(name, config("lxc.cgroup.pids.max = 3\n"), mounts=mounts)
    assert cg.pids() == {proc.pid}  # untouched
    with pytest.raises(CgroupBusy):
        cleanup_stale(name, mounts=mounts)


@needs_root
def test_fresh_cgroup_of_a_live_owner_is_not_a_leftover(
    track: SimpleNamespace, name: str, mounts: CgroupMounts
) -> None:
    """Another daemon's cgroup between create and attach is empty, yet not ours."""
    text = "lxc.cgroup2.cgroup.max.descendants = 4\n" if mounts.v2 is not None else ""
    first = create(track, name, text, mounts=mounts)
    probe = subprocess.run(
        ["flock", "-n", "-x", next(iter(first.limit_paths.values())), "true"], check=False
    )
    assert probe.returncode == 1  # held, as another process sees it
    with pytest.raises(CgroupBusy, match="belongs to a live process"):
        ContainerCgroups.create(name, config(), mounts=mounts)
    with pytest.raises(CgroupBusy):
        cleanup_stale(name, mounts=mounts)
    assert all(os.path.isdir(d) for d in first.paths.values())
    first.release()  # as if its daemon had died: now it is a leftover
    second = create(track, name, mounts=mounts)
    assert second.paths == first.paths
    if "unified" in second.paths:
        assert Path(second.paths["unified"], "cgroup.max.descendants").read_text() == "max\n"


@needs_root
@needs_hybrid
def test_no_descriptor_outlives_its_cgroup(track: SimpleNamespace, name: str) -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(CgroupSettingError):
        ContainerCgroups.create(name, config("lxc.cgroup.pids.max = x\n"))
    cg = create(track, name)
    assert len(os.listdir("/proc/self/fd")) == len(before) + 1  # the ownership lock
    cg.destroy()
    assert sorted(os.listdir("/proc/self/fd")) == before


@needs_root
def test_cleanup_stale(track: SimpleNamespace, name: str, mounts: CgroupMounts) -> None:
    cg = create(track, name, "", mounts=mounts)
    with pytest.raises(CgroupBusy):  # its owner lives
        cleanup_stale(name, mounts=mounts)
    cg.release()  # the owner is gone (a daemon crash)
    assert sorted(cleanup_stale(name, mounts=mounts)) == sorted(cg.limit_paths.values())
    assert leftovers(name) == []
    assert cleanup_stale(name, mounts=mounts) == []


@needs_root
@needs_hybrid
def test_get_set_and_stats(track: SimpleNamespace, name: str) -> None:
    cg = create(track, name, "lxc.cgroup2.cgroup.max.descendants = 9\n")
    assert cg.get("cpu.shares") == "1024\n"
    cg.set("cpu.shares", "256")
    assert cg.get("cpu.shares") == "256\n"
    assert cg.get("cgroup.max.descendants") == "9\n"  # cgroup2 core file
    assert cg.get("pids.max") == "max\n"
    with pytest.raises(CgroupUnknownKey):
        cg.get("foo.bar")
    with pytest.raises(CgroupError):
        cg.get("../memory.limit_in_bytes")
    with pytest.raises(CgroupSettingError, match=r"^memory\.limit_in_bytes: cannot write 'x'"):
        cg.set("memory.limit_in_bytes", "x")
    proc = start(track, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
    cg.attach(proc.pid)
    go(proc)
    assert proc.wait(timeout=10) == 0
    stats = cg.stats()
    assert set(stats) == {"cpu_ns", "blkio_bytes", "memory_bytes", "kmem_bytes", "swap_bytes"}
    assert stats["cpu_ns"] is not None and stats["cpu_ns"] > 0
    assert stats["blkio_bytes"] is not None and stats["memory_bytes"] is not None


@needs_root
def test_stats_on_pure_v2(track: SimpleNamespace, name: str) -> None:
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")
    cg = create(track, name, mounts=REAL.only(2))
    stats = cg.stats()
    assert stats["cpu_ns"] == 0  # cpu.stat needs no controller
    assert stats["kmem_bytes"] is None


@needs_root
@needs_hybrid
async def test_graceful_signal_reaches_every_process(track: SimpleNamespace, name: str) -> None:
    cg = create(track, name)
    proc = start(track, "sleep 30 & sleep 30 & wait")
    cg.attach(proc.pid)
    go(proc)
    with trio.fail_after(2):
        while len(cg.pids()) < 3:
            await trio.sleep(0.01)
    cg.kill_all(signal.SIGTERM)
    with trio.fail_after(2):
        await cg.wait_empty()


@needs_root
@needs_hybrid
def test_dir_container_inner_and_relative(track: SimpleNamespace, name: str) -> None:
    cg = create(
        track,
        name,
        f"lxc.cgroup.dir.container = {name}-box\n"
        "lxc.cgroup.dir.container.inner = ns\n"
        "lxc.cgroup.pids.max = 11\n",
    )
    pids = REAL.v1_for("pids")
    assert pids is not None
    box = os.path.join(pids.mountpoint, f"{name}-box")
    assert cg.limit_paths["pids"] == box
    assert cg.paths["pids"] == os.path.join(box, "ns")
    assert Path(box, "pids.max").read_text() == "11\n"  # the limit is outside the inner cgroup
    cpuset = cg.paths["cpuset"]
    assert Path(cpuset, "cpuset.cpus").read_text().strip()
    cg.destroy()
    assert leftovers(name) == []

    # relative: below this process's own cgroup (here a stand-in made by the test).
    # A real own cgroup has a process in it, so its cpuset has CPUs: the stand-in
    # gets the root's, whatever the host's cgroup.clone_children (0 where LXC never
    # ran). Empty levels are test_cpuset_levels_filled_from_nearest_ancestor's.
    own = {h.key: f"/{name}-self" for h in REAL.hierarchies}
    for hierarchy in REAL.hierarchies:
        os.mkdir(os.path.join(hierarchy.mountpoint, f"{name}-self"))
        if hierarchy.version == 1 and hierarchy.has("cpuset"):
            for file in ("cpuset.cpus", "cpuset.mems"):
                value = Path(hierarchy.mountpoint, file).read_text().strip()
                Path(hierarchy.mountpoint, f"{name}-self", file).write_text(value)
    relative_mounts = CgroupMounts(REAL.v1, REAL.v2, own)
    cg = create(track, name, "lxc.cgroup.relative = 1\n", mounts=relative_mounts)
    for hierarchy in REAL.hierarchies:
        expected = os.path.join(hierarchy.mountpoint, f"{name}-self", f"lxc.payload.{name}")
        assert cg.paths[hierarchy.key] == expected
    cg.destroy()
    assert all(p.endswith(f"{name}-self") for p in leftovers(name))


@needs_root
def test_cpuset_levels_filled_from_nearest_ancestor(track: SimpleNamespace, name: str) -> None:
    """An existing intermediate cpuset cgroup with no CPUs/mems (made by someone
    without clone_children) is filled from the nearest ancestor before the levels
    below it, so the container's process can enter, whatever the host's flags."""
    cpuset = REAL.v1_for("cpuset")
    if cpuset is None:
        pytest.skip("no v1 cpuset hierarchy")
    top = Path(cpuset.mountpoint, f"{name}-pre")
    top.mkdir()
    (top / "cgroup.clone_children").write_text("0")
    for file in ("cpuset.cpus", "cpuset.mems"):  # empty, as on a host where LXC never ran
        (top / file).write_text("")
    (top / "mid").mkdir()
    for level in (top, top / "mid"):
        assert (level / "cpuset.cpus").read_text().strip() == ""
    cg = create(track, name, f"lxc.cgroup.dir = {name}-pre/mid/deep\n")
    payload = Path(cg.paths["cpuset"])
    assert payload == top / "mid" / "deep" / f"lxc.payload.{name}"
    root = {f: Path(cpuset.mountpoint, f).read_text() for f in ("cpuset.cpus", "cpuset.mems")}
    for level in (top, top / "mid", top / "mid" / "deep", payload):
        for file, value in root.items():
            assert (level / file).read_text() == value, (level, file)
    # the levels we made inherit for the container's own children; the existing
    # ones keep their flag
    assert (top / "mid" / "deep" / "cgroup.clone_children").read_text() == "1\n"
    assert (payload / "cgroup.clone_children").read_text() == "1\n"
    assert (top / "cgroup.clone_children").read_text() == "0\n"
    proc = start(track, "exec sleep 5")
    cg.attach(proc.pid)
    assert proc.pid in cg.pids()
    cg.kill_all()
    proc.wait()
    cg.destroy()
    assert not payload.exists()


def _inotify_fds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                count += 1
        except OSError:
            pass
    return count


@needs_root
async def test_shared_watcher_serves_many_waits_with_one_fd(
    track: SimpleNamespace, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")

    async def no_polling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a wait polled although a watcher runs")

    monkeypatch.setattr(events, "poll_until", no_polling)
    mounts = REAL.only(2)
    groups, procs = [], []
    for index in range(6):
        cg = create(track, f"{name}-{index}", mounts=mounts)
        proc = start(track, f"exec sleep 0.{index + 2}")
        cg.attach(proc.pid)
        groups.append(cg)
        procs.append(proc)
    frozen = groups[0]
    busy = start(track, "while :; do :; done")
    frozen.attach(busy.pid)
    go(busy)
    baseline = _inotify_fds()
    finished: list[int] = []

    async def wait_one(index: int, cg: ContainerCgroups, watcher: CgroupWatcher) -> None:
        await cg.wait_empty(watcher=watcher)
        assert cg.last_wait == "inotify"
        finished.append(index)

    async with trio.open_nursery() as nursery:
        watcher = CgroupWatcher()
        await nursery.start(watcher.run)
        with trio.fail_after(3):
            async with trio.open_nursery() as waits:
                for index, cg in enumerate(groups[1:], start=1):
                    waits.start_soon(wait_one, index, cg, watcher)
                await trio.sleep(0.05)
                assert _inotify_fds() == baseline + 1  # one instance for all of them
                for proc in procs:
                    go(proc)
                frozen.freeze()
                await frozen.wait_frozen(watcher=watcher)
                assert frozen.last_wait == "inotify"
                frozen.thaw()
        assert sorted(finished) == [1, 2, 3, 4, 5]
        nursery.cancel_scope.cancel()
    # A watcher that stopped is not used: the wait opens its own instance.
    frozen.freeze()
    with trio.fail_after(2):
        await frozen.wait_frozen(watcher=watcher)
    assert frozen.last_wait == "inotify"
    assert not watcher.running
    assert _inotify_fds() == baseline


@needs_root
async def test_wait_survives_its_watcher_stopping(track: SimpleNamespace, name: str) -> None:
    if REAL.v2 is None:
        pytest.skip("no cgroup2 mount")
    cg = create(track, name, mounts=REAL.only(2))
    proc = start(track, "exec sleep 0.3")
    cg.attach(proc.pid)
    go(proc)
    watcher = CgroupWatcher()
    done = trio.Event()

    async def wait() -> None:
        await cg.wait_empty(watcher=watcher)
        done.set()

    with trio.fail_after(3):
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as inner:
                await inner.start(watcher.run)
                outer.start_soon(wait)
                await trio.sleep(0.05)
                inner.cancel_scope.cancel()
            assert not watcher.running and not done.is_set()
    assert done.is_set()
    assert cg.last_wait == "inotify"  # went on with its own instance
