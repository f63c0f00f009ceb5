"""lxc-create -t with LXC's template scripts, and the built-in `local` and `download`
(runtime/storage/templates/script.py, local.py, download.py): LXC's arguments, config and
header; working containers; nothing left by a failure; nothing written through an
image's symlinks."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tarfile
import time
from pathlib import Path

import pytest

from runtime.config.parser import parse_file
from tests.conftest import Cli, unique

PROBE = """#!/bin/sh
# Records how it was run, then adds to the config as LXC's templates do.
python3 - "$@" <<'EOF' > {record}
import json, os, sys
path = [a for a in sys.argv[1:] if a.startswith("--path=")][0][7:]
print(json.dumps({{
    "argv": sys.argv[1:],
    "env": {{k: v for k, v in os.environ.items() if k.startswith("LXC_")}},
    "config": open(os.path.join(path, "config")).read(),
    "rootfs": sorted(os.listdir(os.path.join(path, "rootfs"))),
    "uid": os.getuid(),
}}))
EOF
for a in "$@"; do case $a in --path=*) p=${{a#--path=}};; --rootfs=*) r=${{a#--rootfs=}};; esac; done
echo "lxc.tty.max = 2" >> "$p/config"
echo made > "$r/made-by-template"
exit {status}
"""


def probe_script(tmp_path: Path, status: int = 0, name: str = "lxc-probe") -> tuple[Path, Path]:
    record = tmp_path / f"{name}.json"
    script = tmp_path / name
    script.write_text(PROBE.format(record=record, status=status))
    script.chmod(0o755)
    return script, record


def left_in(lxcpath: Path) -> list[str]:
    return sorted(os.listdir(lxcpath))


HEADER = """\
# Template used to create this container: {template}
# Parameters passed to the template:{args}
# For additional config options, please look at lxc.container.conf(5)

# Uncomment the following line to support nesting containers:
#lxc.include = /usr/share/lxc/config/nesting.conf
# (Be aware this has security implications)

"""


def test_script_runs_with_lxcs_arguments_and_config(cli: Cli, tmp_path: Path, empty_net_config: Path) -> None:
    script, record = probe_script(tmp_path)
    result = cli("lxc-create", "-n", "s1", "-t", str(script), "-f", str(empty_net_config), "--", "--foo", "x y")
    assert result.returncode == 0, result.stderr
    lxcpath = cli.lxcpath
    seen = json.loads(record.read_text())
    assert seen["argv"] == [f"--path={lxcpath}/s1", "--name=s1", f"--rootfs={lxcpath}/s1/rootfs", "--foo", "x y"]
    assert seen["env"] == {
        "LXC_NAME": "s1", "LXC_PATH": f"{lxcpath}/s1", "LXC_ROOTFS": f"{lxcpath}/s1/rootfs",
        "LXC_CONFIG_FILE": f"{lxcpath}/s1/config",
    }  # fmt: skip
    # At its start the config is written (rootfs included) and the rootfs is empty.
    assert seen["config"] == f"lxc.net.0.type = empty\nlxc.rootfs.path = dir:{lxcpath}/s1/rootfs\n"
    assert seen["rootfs"] == [] and seen["uid"] == 0
    text = (lxcpath / "s1/config").read_text()
    assert text == HEADER.format(template=script, args=" --foo x y") + seen["config"] + "lxc.tty.max = 2\n"
    assert (lxcpath / "s1/rootfs/made-by-template").read_text() == "made\n"
    assert left_in(lxcpath) == ["s1"]  # no staging directory, no mount point left
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(lxcpath) in line]


def test_script_by_name_from_the_template_directory_with_an_idmap(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-t NAME` is `lxc-NAME` in the template directory; lxc.idmap adds
    --mapped-uid/--mapped-gid (the ids that stand for the caller: root, here)."""
    templates = tmp_path / "templates"
    templates.mkdir()
    _, record = probe_script(templates)
    cli.env["TRIO_LXC_TEMPLATE_DIR"] = str(templates)
    conf = tmp_path / "mapped.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.idmap = u 0 200000 65536\nlxc.idmap = g 0 200000 65536\n")
    result = cli("lxc-create", "-n", "m1", "-t", "probe", "-f", str(conf))
    assert result.returncode == 0, result.stderr
    argv = json.loads(record.read_text())["argv"]
    assert argv[-4:] == ["--mapped-uid", "0", "--mapped-gid", "0"]
    made = cli.lxcpath / "m1/rootfs/made-by-template"
    assert (made.stat().st_uid, made.stat().st_gid) == (200000, 200000)  # shifted into the map
    assert (cli.lxcpath / "m1/config").read_text().startswith(HEADER.format(template=templates / "lxc-probe", args=""))


def test_failing_script_leaves_nothing(cli: Cli, tmp_path: Path, empty_net_config: Path) -> None:
    script, _ = probe_script(tmp_path, status=3)
    result = cli("lxc-create", "-n", "f1", "-t", str(script), "-f", str(empty_net_config))
    assert result.returncode == 1
    assert f"{script} exited with status 3" in result.stderr
    assert left_in(cli.lxcpath) == []
    missing = cli("lxc-create", "-n", "f2", "-t", str(tmp_path / "nosuch"), "-f", str(empty_net_config))
    assert missing.returncode == 1 and "No such file" in missing.stderr
    assert left_in(cli.lxcpath) == []


def test_a_config_the_script_made_a_symlink_is_not_followed(cli: Cli, tmp_path: Path, empty_net_config: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("host file\n")
    script = tmp_path / "lxc-swap"
    script.write_text(
        "#!/bin/sh\nfor a; do case $a in --path=*) p=${a#--path=};; esac; done\n"
        f'rm "$p/config" && ln -s {victim} "$p/config"\n'
    )
    script.chmod(0o755)
    result = cli("lxc-create", "-n", "v1", "-t", str(script), "-f", str(empty_net_config))
    assert result.returncode == 1
    assert "template left no readable config" in result.stderr
    assert victim.read_text() == "host file\n"
    assert left_in(cli.lxcpath) == []


@pytest.mark.skipif(not os.access("/usr/share/lxc/templates/lxc-busybox", os.X_OK), reason="LXC's templates are not installed")
def test_lxcs_busybox_script_makes_a_working_container(runtime: Cli, tmp_path: Path, empty_net_config: Path) -> None:
    name = unique("lbb")
    result = runtime("lxc-create", "-n", name, "-t", "/usr/share/lxc/templates/lxc-busybox", "-f", str(empty_net_config))
    assert result.returncode == 0, result.stderr
    assert runtime("lxc-start", "-n", name).returncode == 0
    try:
        attached = runtime("lxc-attach", "-n", name, "--", "hostname")
        assert (attached.returncode, attached.stdout) == (0, f"{name}\n"), attached.stderr
    finally:
        runtime("lxc-stop", "-n", name, "-k")


# -- local -------------------------------------------------------------------------------


def _add_text(archive: tarfile.TarFile, name: str, text: str, **fields: object) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An image as LXC's image servers ship them: meta.tar.xz and rootfs.tar.xz, the
    rootfs a busybox system (busybox-static) made by the busybox template."""
    from runtime.storage.templates import TEMPLATES, TemplateContext

    if shutil.which("busybox", path=os.environ.get("PATH", "") + ":/bin:/usr/bin") is None:
        pytest.skip("needs busybox (apt-get install busybox-static)")
    base = tmp_path_factory.mktemp("image")
    rootfs = base / "build/rootfs"
    rootfs.mkdir(parents=True)
    ctx = TemplateContext(name="img", path=str(base / "build"), rootfs=str(rootfs), final_rootfs="/x/rootfs")
    items = TEMPLATES["busybox"](ctx)
    (rootfs / "etc/hostname").write_text("LXC_NAME\n")
    (rootfs / "var/cache").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/junk").write_text("left out\n")
    fstree = base / "rootfs.tar.xz"
    with tarfile.open(fstree, "w:xz") as archive:
        archive.add(rootfs, arcname=".")
    config = "".join(f"{k} = {v}\n" for k, v in items if k != "lxc.uts.name") + "lxc.tty.max = 4\n"
    metadata = base / "meta.tar.xz"
    with tarfile.open(metadata, "w:xz") as archive:
        _add_text(archive, "config", config)
        _add_text(archive, "templates", "/etc/hostname\n")
        _add_text(archive, "excludes", "./var/cache\n")
        _add_text(archive, "fstab", "proc LXC_ROOTFS/proc-x proc defaults,optional 0 0\n")
        _add_text(archive, "create-message", "made from a local image\n")
    return metadata, fstree


def test_local_makes_a_working_container(runtime: Cli, tmp_path: Path, image: tuple[Path, Path]) -> None:
    metadata, fstree = image
    name = unique("loc")
    conf = tmp_path / "own.conf"
    conf.write_text("lxc.net.0.type = empty\nlxc.tty.max = 1\n")
    result = runtime(
        "lxc-create", "-n", name, "-t", "local", "-f", str(conf), "--",
        "--metadata", str(metadata), "--fstree", str(fstree),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "made from a local image" in result.stdout
    path = runtime.lxcpath / name
    text = (path / "config").read_text()
    assert text.startswith(HEADER.format(template="local", args=f" --metadata {metadata} --fstree {fstree}"))
    sections = [line for line in text.splitlines() if line.startswith("# ") and "configuration" in line]
    assert sections == ["# Distribution configuration", "# Container specific configuration", "# Network configuration"]
    raw = parse_file(str(path / "config"))
    assert raw.get("lxc.tty.max") == "1"  # the creator's key comes after the image's
    assert raw.get("lxc.uts.name") == name and raw.get("lxc.mount.fstab") == f"{path}/fstab"
    assert (path / "fstab").read_text() == f"proc {path}/rootfs/proc-x proc defaults,optional 0 0\n"
    assert (path / "rootfs/etc/hostname").read_text() == f"{name}\n"
    assert not (path / "rootfs/var/cache").exists()  # excluded
    assert (path / "rootfs/dev/pts").is_dir()
    assert (path / "rootfs/bin/busybox").stat().st_mode & 0o4000  # set-uid kept
    assert runtime("lxc-start", "-n", name).returncode == 0
    try:
        attached = runtime("lxc-attach", "-n", name, "--", "cat", "/etc/hostname")
        assert (attached.returncode, attached.stdout) == (0, f"{name}\n"), attached.stderr
    finally:
        runtime("lxc-stop", "-n", name, "-k")


def test_local_refuses_an_image_writing_outside_its_rootfs(cli: Cli, tmp_path: Path, image: tuple[Path, Path]) -> None:
    metadata, _ = image
    outside = tmp_path / "host-dir"
    outside.mkdir()
    (outside / "passwd").write_text("host\n")
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as archive:
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        archive.addfile(link)
        _add_text(archive, "etc/passwd", "owned\n")
    result = cli(
        "lxc-create", "-n", "e1", "-t", "local", "--", "--metadata", str(metadata), "--fstree", str(evil),
    )  # fmt: skip
    assert result.returncode == 1
    assert "'etc/passwd' would be written outside the rootfs" in result.stderr
    assert (outside / "passwd").read_text() == "host\n"
    assert left_in(cli.lxcpath) == []


def test_local_templates_entry_through_a_symlink_is_refused(cli: Cli, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("LXC_NAME stays\n")
    fstree = tmp_path / "rootfs.tar"
    with tarfile.open(fstree, "w") as archive:
        link = tarfile.TarInfo("hostname")
        link.type, link.linkname = tarfile.SYMTYPE, str(victim)
        archive.addfile(link)
    metadata = tmp_path / "meta.tar"
    with tarfile.open(metadata, "w") as archive:
        _add_text(archive, "config", "lxc.tty.max = 1\n")
        _add_text(archive, "templates", "hostname\n")
    result = cli(
        "lxc-create", "-n", "e2", "-t", "local", "--", "--metadata", str(metadata), "--fstree", str(fstree),
    )  # fmt: skip
    assert result.returncode == 1 and "templates entry 'hostname' is refused" in result.stderr
    assert victim.read_text() == "LXC_NAME stays\n"
    assert left_in(cli.lxcpath) == []


def test_local_metadata_reaching_outside_is_refused(cli: Cli, tmp_path: Path, image: tuple[Path, Path]) -> None:
    """The metadata tarball is unpacked as strictly as LXC's `tar` with Python's data
    filter would: a link out of it, or a device node, refuses the image."""
    _, fstree = image
    outside = tmp_path / "host-dir"
    outside.mkdir()
    for number, (kind, linkname) in enumerate(((tarfile.SYMTYPE, str(outside)), (tarfile.CHRTYPE, ""))):
        metadata = tmp_path / f"meta{number}.tar"
        with tarfile.open(metadata, "w") as archive:
            member = tarfile.TarInfo("sub")
            member.type, member.linkname = kind, linkname
            archive.addfile(member)
            _add_text(archive, "sub/config", "owned\n")
        result = cli(
            "lxc-create", "-n", unique("e4"), "-t", "local", "--", "--metadata", str(metadata), "--fstree", str(fstree),
        )  # fmt: skip
        assert result.returncode == 1 and "invalid metadata tarball" in result.stderr, result.stderr
        assert "member 'sub'" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list(outside.iterdir()) == []
    assert left_in(cli.lxcpath) == []


def test_local_needs_both_tarballs(cli: Cli, tmp_path: Path) -> None:
    result = cli("lxc-create", "-n", "e3", "-t", "local", "--", "--metadata", str(tmp_path / "none.tar.xz"))
    assert result.returncode == 1 and "--metadata" in result.stderr
    assert left_in(cli.lxcpath) == []


# -- download ----------------------------------------------------------------------------


def test_download_says_why_without_a_network_and_is_bounded(cli: Cli) -> None:
    """An unresolvable server, one whose answer is not the image server's, and one
    that never answers (a local socket that accepts and stays silent): each fails in
    bounded time, saying why and what works offline."""
    cli.env["TRIO_LXC_DOWNLOAD_PROBE_TIMEOUT"] = "3"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        quiet = f"127.0.0.1:{silent.getsockname()[1]}"
        for server in ("images.linuxcontainers.org", "198.51.100.7", quiet):
            started = time.monotonic()
            result = cli("lxc-create", "-n", "d1", "-t", "download", "--", "--server", server, "-d", "alpine")
            elapsed = time.monotonic() - started
            if result.returncode == 0:  # pragma: no cover - a host with a network
                pytest.skip(f"{server} is reachable from this host")
            assert elapsed < 15, (server, elapsed)
            assert f"template 'download' needs the image server {server}" in result.stderr, result.stderr
            assert "-t local" in result.stderr
            assert left_in(cli.lxcpath) == []
        assert "within 3 s" in result.stderr  # the silent one
