"""config.json -> LXC config (runtime.oci.spec): what is mapped, and what is refused by name.

Pure translation: the config text is checked by the runtime's own parser and
typed model (so every key written is one the runtime knows); the effects in a
real container are covered by tests/test_oci_cli.py and test_oci_containerd.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from runtime.cgroups.mounts import CgroupMounts, Hierarchy
from runtime.config import model
from runtime.config.parser import parse_text
from runtime.oci.cgroup_keys import Resources
from runtime.oci.errors import SpecError
from runtime.oci.spec import translate

V1 = CgroupMounts(
    tuple(
        Hierarchy(1, f"/sys/fs/cgroup/{c}", "/", (c,))
        for c in ("cpu", "cpuset", "memory", "devices", "pids", "blkio", "hugetlb")
    ),
    Hierarchy(2, "/sys/fs/cgroup/unified"),
)
V2 = CgroupMounts((), Hierarchy(2, "/sys/fs/cgroup", "/", ("cpu", "cpuset", "memory", "pids", "io")))

BASE: dict[str, object] = {
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs"},
    "process": {
        "args": ["sh", "-c", "echo a b"],
        "env": ["PATH=/bin", "A=b c"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0, "additionalGids": [10, 11]},
        "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL", "CAP_CHOWN"],
                         "permitted": ["CAP_CHOWN", "CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}],
        "noNewPrivileges": True,
        "oomScoreAdj": 100,
    },
    "hostname": "box",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
        {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]},
    ],
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
                       {"type": "network", "path": "/proc/1/ns/net"}],
        "cgroupsPath": "/ns/box",
        "resources": {"memory": {"limit": 1048576}, "pids": {"limit": 10}, "cpu": {"shares": 512}},
        "sysctl": {"kernel.msgmax": "8192"},
        "maskedPaths": ["/proc/kcore", "/proc/acpi"],
        "readonlyPaths": ["/proc/sys"],
    },
}  # fmt: skip


def _bundle(tmp_path: Path, config: dict[str, object]) -> str:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


def _with(path: str, value: object) -> dict[str, object]:
    config = copy.deepcopy(BASE)
    node: dict[str, object] = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return config


def test_a_full_config_becomes_keys_the_runtime_accepts(tmp_path: Path) -> None:
    out = translate(_bundle(tmp_path, BASE), "box", Resources(V1))
    text = out.config_text
    model.from_raw(parse_text(text, "translated"))  # every key known and valid
    assert out.argv == ["sh", "-c", "echo a b"]
    for line in (
        f"lxc.rootfs.path = {tmp_path}/rootfs",
        "lxc.uts.name = box",
        "lxc.namespace.clone = ipc mnt pid uts",
        "lxc.namespace.share.net = /proc/1/ns/net",
        "lxc.mount.auto = proc:rw sys:ro",
        "lxc.autodev = 1",
        "lxc.autodev.tmpfs.size = 67108864",
        "lxc.mount.entry = tmpfs run tmpfs mode=755,create=dir 0 0",
        "lxc.mount.entry = /tmp data none rbind,ro,create=dir 0 0",
        "lxc.mount.entry = /dev/null proc/kcore none bind,optional 0 0",
        "lxc.mount.entry = tmpfs proc/acpi tmpfs ro,optional 0 0",
        "lxc.mount.entry = proc/sys proc/sys none bind,ro,relative,optional 0 0",
        "lxc.environment = A=b c",
        "lxc.init.groups = 10,11",
        "lxc.cap.keep = kill chown",
        "lxc.prlimit.nofile = 1024:2048",
        "lxc.no_new_privs = 1",
        "lxc.proc.oom_score_adj = 100",
        "lxc.sysctl.kernel.msgmax = 8192",
        "lxc.cgroup.dir.container = ns/box",
        "lxc.cgroup.memory.limit_in_bytes = 1048576",
        "lxc.cgroup.pids.max = 10",
        "lxc.cgroup.cpu.shares = 512",
    ):
        assert line in text.splitlines(), line


def test_resources_on_cgroup_v2_use_v2_files_and_runc_conversions(tmp_path: Path) -> None:
    config = _with("linux.resources", {
        "memory": {"limit": 1000, "swap": 3000, "reservation": 500},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 0},
    })  # fmt: skip
    text = translate(_bundle(tmp_path, config), "box", Resources(V2)).config_text.splitlines()
    for line in (
        "lxc.cgroup2.memory.max = 1000",
        "lxc.cgroup2.memory.swap.max = 2000",
        "lxc.cgroup2.memory.low = 500",
        "lxc.cgroup2.cpu.weight = 39",
        "lxc.cgroup2.cpu.max = 50000 100000",
        "lxc.cgroup2.cpuset.cpus = 0",
        "lxc.cgroup2.pids.max = max",
    ):
        assert line in text, line


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("linux.seccomp", {"defaultAction": "SCMP_ACT_LOG"}, "linux.seccomp.defaultAction"),
        ("linux.intelRdt", {"closID": "x"}, "linux.intelRdt"),
        ("linux.personality", {"domain": "LINUX32"}, "linux.personality"),
        ("linux.mountLabel", "system_u", "linux.mountLabel"),
        ("linux.cgroupsPath", "system.slice:docker:x", "linux.cgroupsPath"),
        ("linux.resources.memory", {"kernel": 100}, "linux.resources.memory.kernel"),
        ("linux.resources.network", {"classID": 1}, "linux.resources.network"),
        ("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}], "linux.devices[0]"),
        ("process.scheduler", {"policy": "SCHED_FIFO"}, "process.scheduler"),
        ("process.ioPriority", {"class": "IOPRIO_CLASS_RT"}, "process.ioPriority"),
        ("process.capabilities.ambient", ["CAP_KILL"], "process.capabilities.ambient"),
        ("process.capabilities.effective", ["CAP_KILL"], "process.capabilities.effective"),
        ("process.capabilities.bounding", ["CAP_NOPE"], "process.capabilities.bounding[0]"),
        ("process.env", ["NOVALUE"], "process.env[0]"),
        ("process.args", [], "process.args"),
        ("process.user.umask", 0o077, "process.user.umask"),
        ("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}], "process.rlimits[0].type"),
        ("hooks", {"createContainer": [{"path": "/bin/true"}]}, "hooks.createContainer"),
        ("domainname", "example.org", "domainname"),
        ("windows", {"layerFolders": []}, "windows"),
        ("somethingNew", 1, "somethingNew"),
        ("linux.namespaces", [{"type": "user"}, {"type": "uts"}], "linux.namespaces"),
        ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]},
         "linux.seccomp.flags"),
        ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_ARM"]},
         "linux.seccomp.architectures[0]"),
        ("linux.namespaces", [{"type": "bogus"}], "linux.namespaces[0].type"),
        ("root.path", "missing", "root.path"),
        ("ociVersion", "2.0.0", "ociVersion"),
        ("mounts", [{"destination": "/x y", "type": "tmpfs", "source": "tmpfs"}], "mounts[0].destination"),
        ("mounts", [{"destination": "/x", "type": "bind", "source": "/nonexistent-src"}], "mounts[0].source"),
        ("mounts", [{"destination": "/proc/../..", "type": "tmpfs", "source": "tmpfs"}], "mounts[0].destination"),
        ("hooks", {"poststart": [{"path": "/bin/true", "timeout": -1}]}, "hooks.poststart[0].timeout"),
        ("linux.uidMappings", [{"containerID": 0, "hostID": 2**40, "size": 2**40}], "linux.uidMappings[0]"),
        ("process.user", {"uid": -1, "gid": 0}, "process.user.uid"),
        ("process.user", {"uid": 0, "gid": 2**32 - 1}, "process.user.gid"),
        ("process.consoleSize", {"height": 70000, "width": 1}, "process.consoleSize.height"),
    ],
)
def test_unsupported_fields_are_refused_by_name(
    tmp_path: Path, path: str, value: object, field: str
) -> None:
    with pytest.raises(SpecError) as info:
        translate(_bundle(tmp_path, _with(path, value)), "box", Resources(V1))
    assert info.value.field == field, str(info.value)


def test_device_rules_need_a_devices_controller(tmp_path: Path) -> None:
    config = _with("linux.resources", {"devices": [{"allow": False, "access": "rwm"}]})
    with pytest.raises(SpecError) as info:
        translate(_bundle(tmp_path, config), "box", Resources(V2))
    assert info.value.field == "linux.resources.devices"
    text = translate(_bundle(tmp_path, config), "box", Resources(V1)).config_text
    assert "lxc.cgroup.devices.deny = a\n" in text


def test_hooks_and_terminal_stay_with_the_oci_command(tmp_path: Path) -> None:
    config = _with("hooks", {"poststart": [{"path": "/bin/true", "args": ["true", "x"], "timeout": 5}]})
    config["process"]["terminal"] = True
    config["process"]["consoleSize"] = {"height": 30, "width": 100}
    out = translate(_bundle(tmp_path, config), "box", Resources(V1))
    assert out.terminal and out.console_size == (30, 100)
    assert [h.to_json() for h in out.hooks["poststart"]] == [
        {"path": "/bin/true", "args": ["true", "x"], "env": [], "timeout": 5}
    ]


def test_seccomp_becomes_an_lxc_profile_the_runtime_compiles(tmp_path: Path) -> None:
    from runtime.seccomp import profile as lxc_profile
    from runtime.seccomp.compile import compile_profile

    config = _with("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["read", "write", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        ],
    })  # fmt: skip
    out = translate(_bundle(tmp_path, config), "box", Resources(V1))
    assert out.seccomp == (
        "2\nallowlist errno 38\nread allow\nwrite allow\nexit_group allow\nno_such_call allow\n"
        "personality allow [0,8,SCMP_CMP_EQ]\nclone allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]\n"
        "kill errno 1\n"
    )
    assert compile_profile(lxc_profile.parse(out.seccomp, "oci"))
