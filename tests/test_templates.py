"""The container templates: the busybox rootfs, run for real in a chroot, and `none`."""

from __future__ import annotations

import os
import select
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from runtime.client.errors import LxcError
from runtime.storage.templates import TEMPLATES, TemplateContext, get_template
from runtime.storage.templates import busybox as bb

BUSYBOX = shutil.which("busybox", path=os.environ.get("PATH", "") + ":" + bb.FALLBACK_PATH)
CHROOT = shutil.which("chroot", path=os.environ.get("PATH", "") + ":" + bb.FALLBACK_PATH)

needs_busybox = pytest.mark.skipif(
    BUSYBOX is None or CHROOT is None or os.geteuid() != 0,
    reason="needs root, chroot and busybox (apt-get install busybox-static)",
)


def make_ctx(
    base: Path, args: list[str] | None = None, tty_max: int | None = None
) -> TemplateContext:
    """A context laid out like the store's: a hidden build directory renamed later."""
    build = base / ".tmp-c1-x7k2"
    rootfs = build / "rootfs"
    rootfs.mkdir(parents=True)
    return TemplateContext(
        name="c1",
        path=str(build),
        rootfs=str(rootfs),
        final_rootfs=str(base / "c1" / "rootfs"),
        args=args or [],
        tty_max=tty_max,
    )


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[TemplateContext, list[tuple[str, str]]]:
    """One busybox container built with the defaults, shared by the read-only tests."""
    if BUSYBOX is None or os.geteuid() != 0:
        pytest.skip("needs root and busybox (apt-get install busybox-static)")
    ctx = make_ctx(tmp_path_factory.mktemp("lxcpath"))
    return ctx, get_template("busybox")(ctx)


def chroot(rootfs: str, script: str) -> subprocess.CompletedProcess[str]:
    assert CHROOT is not None
    return subprocess.run(
        [CHROOT, rootfs, "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/bin:/sbin", "LC_ALL": "C"},
    )


# --- the tree ------------------------------------------------------------------


@needs_busybox
def test_directory_tree_and_modes(built):
    ctx, _ = built
    root = Path(ctx.rootfs)
    for directory in bb.DIRECTORIES:
        st = (root / directory).lstat()
        assert stat.S_ISDIR(st.st_mode), directory
        expected = 0o1777 if directory == "tmp" else 0o755
        assert stat.S_IMODE(st.st_mode) == expected, directory
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "bin/busybox").stat().st_mode) == 0o6755
    assert stat.S_IMODE((root / "etc/init.d/rcS").stat().st_mode) == 0o744
    assert stat.S_IMODE((root / "etc/inittab").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "etc/shadow").stat().st_mode) == 0o600
    assert (root / "etc/fstab").read_text() == ""


@needs_busybox
def test_tmp_is_sticky_and_world_writable(built):
    ctx, _ = built
    assert stat.S_IMODE(os.stat(os.path.join(ctx.rootfs, "tmp")).st_mode) == 0o1777


@needs_busybox
def test_every_applet_is_a_symlink_to_busybox(built):
    ctx, _ = built
    assert BUSYBOX is not None
    applets = bb.list_applets(BUSYBOX)
    assert "sh" in applets and "busybox" not in applets
    bindir = Path(ctx.rootfs, "bin")
    for applet in applets:
        assert os.readlink(bindir / applet) == "busybox", applet
    assert sorted(p.name for p in bindir.iterdir()) == sorted([*applets, "busybox"])


@needs_busybox
def test_sbin_init_is_the_busybox_binary(built):
    ctx, _ = built
    init = os.lstat(os.path.join(ctx.rootfs, "sbin/init"))
    binary = os.lstat(os.path.join(ctx.rootfs, "bin/busybox"))
    assert stat.S_ISREG(init.st_mode)
    assert (init.st_dev, init.st_ino) == (binary.st_dev, binary.st_ino)
    assert binary.st_nlink == 2


@needs_busybox
def test_shell_runs_in_a_chroot(built):
    ctx, _ = built
    result = chroot(ctx.rootfs, "echo ok; ls /bin | wc -l")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "ok"
    assert int(lines[1]) == len(os.listdir(os.path.join(ctx.rootfs, "bin")))


@needs_busybox
def test_boot_scripts_parse(built):
    ctx, _ = built
    script = bb.udhcpc_script_path(BUSYBOX or "")
    result = chroot(ctx.rootfs, f"sh -n /etc/init.d/rcS && sh -n {script} && echo parsed")
    assert result.stdout.strip() == "parsed", result.stderr


# --- /etc ----------------------------------------------------------------------


@needs_busybox
def test_inittab_has_a_getty_per_tty_and_the_console(built):
    ctx, items = built
    lines = Path(ctx.rootfs, "etc/inittab").read_text().splitlines()
    entries = [line for line in lines if line and not line.startswith("#")]
    assert entries[0] == "::sysinit:/etc/init.d/rcS"
    gettys = [e for e in entries if "/bin/getty" in e]
    assert gettys == [
        f"tty{n}::respawn:/bin/getty -L tty{n} 115200 vt100"
        for n in range(1, bb.DEFAULT_TTY_MAX + 1)
    ]
    assert "console::askfirst:/bin/sh" in entries
    assert ("lxc.tty.max", str(bb.DEFAULT_TTY_MAX)) in items


@needs_busybox
@pytest.mark.parametrize("ttys", [0, 2, 8])
def test_inittab_follows_the_configured_tty_count(tmp_path, ttys):
    ctx = make_ctx(tmp_path, tty_max=ttys)
    items = get_template("busybox")(ctx)
    text = Path(ctx.rootfs, "etc/inittab").read_text()
    for n in range(1, ttys + 1):
        assert f"tty{n}::respawn:/bin/getty -L tty{n} 115200 vt100\n" in text
    assert f"tty{ttys + 1}::" not in text
    assert [v for k, v in items if k == "lxc.tty.max"] == [str(ttys)]


@needs_busybox
def test_passwd_group_and_shadow_parse(built):
    ctx, _ = built
    etc = Path(ctx.rootfs, "etc")
    passwd = [line.split(":") for line in etc.joinpath("passwd").read_text().splitlines()]
    assert passwd == [["root", "x", "0", "0", "root", "/root", "/bin/sh"]]
    group = [line.split(":") for line in etc.joinpath("group").read_text().splitlines()]
    assert group == [["root", "x", "0", "root"]]
    shadow = [line.split(":") for line in etc.joinpath("shadow").read_text().splitlines()]
    assert len(shadow) == 1 and len(shadow[0]) == 9
    assert shadow[0][:2] == ["root", ""]  # empty password: console login works
    home, shell = passwd[0][5], passwd[0][6]
    assert Path(ctx.rootfs, home.lstrip("/")).is_dir()
    assert os.path.lexists(Path(ctx.rootfs, shell.lstrip("/")))
    result = chroot(ctx.rootfs, "id -u root; id -gn root")
    assert result.stdout.split() == ["0", "root"], result.stderr


@needs_busybox
def test_udhcpc_script_is_where_the_binary_looks(built):
    ctx, _ = built
    assert BUSYBOX is not None
    help_text = subprocess.run(
        [BUSYBOX, "udhcpc", "--help"], capture_output=True, text=True, timeout=30
    ).stderr
    script = bb.udhcpc_script_path(BUSYBOX)
    assert f"(default {script})" in help_text
    path = Path(ctx.rootfs, script.lstrip("/"))
    assert path.read_text().startswith("#!/bin/sh\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o744
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755


@needs_busybox
def test_root_logs_in_on_a_tty_without_a_password(built):
    ctx, _ = built
    setsid = shutil.which("setsid", path=bb.FALLBACK_PATH)
    if setsid is None:
        pytest.skip("needs setsid (util-linux)")
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [setsid, "-c", CHROOT or "chroot", ctx.rootfs, "/bin/login"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={"PATH": "/bin:/sbin", "TERM": "vt100"},
    )
    os.close(slave)
    try:
        seen = read_until(master, b"login: ")
        os.write(master, b"root\n")
        os.write(master, b"echo LOGIN-$((6*7))\n")
        seen += read_until(master, b"LOGIN-42")
        assert b"Password" not in seen
        assert b"incorrect" not in seen
        os.write(master, b"exit\n")
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def read_until(fd: int, marker: bytes, timeout: float = 10.0) -> bytes:
    """Read a pty until `marker` appears; fail the test with what came otherwise."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {marker!r} on the tty, got {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side has gone
                chunk = b""
            if not chunk:
                pytest.fail(f"tty closed before {marker!r}, got {data!r}")
            data += chunk
    return data


# --- the build directory -------------------------------------------------------


@needs_busybox
def test_no_build_path_leaks_into_the_rootfs(built):
    ctx, items = built
    needles = {ctx.path.encode(), ctx.rootfs.encode(), os.path.realpath(ctx.path).encode()}
    checked = 0
    for directory, _, files in os.walk(ctx.rootfs):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                assert os.readlink(path) == "busybox"
                continue
            data = Path(path).read_bytes()
            assert not any(n in data for n in needles), path
            checked += 1
    assert checked >= 8
    assert not any(ctx.path in value for _, value in items)


@needs_busybox
def test_nothing_is_created_outside_the_rootfs(built):
    ctx, _ = built
    assert os.listdir(ctx.path) == ["rootfs"]


@needs_busybox
def test_config_items_for_a_static_busybox(built):
    ctx, items = built
    assert BUSYBOX is not None and not bb.needs_shared_libraries(BUSYBOX)
    assert items == [
        ("lxc.signal.halt", "SIGUSR1"),
        ("lxc.signal.reboot", "SIGTERM"),
        ("lxc.uts.name", "c1"),
        ("lxc.autodev", "1"),
        ("lxc.tty.max", "5"),
        ("lxc.pty.max", "1"),
        ("lxc.cap.drop", "sys_module mac_admin mac_override sys_time"),
        ("lxc.mount.auto", "cgroup:mixed proc:mixed sys:ro"),
        ("lxc.mount.entry", "shm dev/shm tmpfs defaults,create=dir 0 0"),
        ("lxc.mount.entry", "mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0"),
        ("lxc.mount.entry", "/sys/kernel/security sys/kernel/security none ro,bind,optional 0 0"),
    ]


def test_dynamic_busybox_gets_the_host_library_directories():
    items = bb.container_config("c1", 5, shared_libraries=True)
    binds = [v for k, v in items if k == "lxc.mount.entry" and "ro,bind 0 0" in v]
    expected = [
        f"/{d} {d} none ro,bind 0 0" for d in bb.LIBRARY_DIRECTORIES if os.path.isdir("/" + d)
    ]
    assert binds == expected and binds
    assert items[-1] == (
        "lxc.mount.entry",
        "/sys/kernel/security sys/kernel/security none ro,bind,optional 0 0",
    )


def test_elf_interpreter_detection(tmp_path):
    dynamic = os.path.realpath("/bin/sh")
    assert bb.needs_shared_libraries(dynamic)
    if BUSYBOX is not None:
        assert not bb.needs_shared_libraries(os.path.realpath(BUSYBOX))  # busybox-static
    script = tmp_path / "busybox"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(LxcError, match="not an ELF executable"):
        bb.needs_shared_libraries(str(script))


@needs_busybox
def test_explicit_busybox_path_after_a_separator(tmp_path):
    assert BUSYBOX is not None
    ctx = make_ctx(tmp_path, args=["--", "--busybox-path", os.path.realpath(BUSYBOX)])
    items = get_template("busybox")(ctx)
    assert ("lxc.uts.name", "c1") in items
    assert os.path.isfile(os.path.join(ctx.rootfs, "bin/busybox"))


# --- errors --------------------------------------------------------------------


def test_missing_busybox_path_is_an_error_and_creates_nothing(tmp_path):
    ctx = make_ctx(tmp_path, args=["--busybox-path", str(tmp_path / "no-such-busybox")])
    with pytest.raises(LxcError) as info:
        get_template("busybox")(ctx)
    message = str(info.value)
    assert "no-such-busybox" in message
    assert "apt-get install busybox-static" in message and "--busybox-path" in message
    assert os.listdir(ctx.rootfs) == []


def test_busybox_path_that_is_not_executable(tmp_path):
    target = tmp_path / "busybox"
    target.write_bytes(b"\x7fELF")
    ctx = make_ctx(tmp_path, args=["--busybox-path", str(target)])
    with pytest.raises(LxcError, match="not an executable file"):
        get_template("busybox")(ctx)


def test_unknown_template_names_the_available_ones(tmp_path, monkeypatch):
    """Built-in ones and the LXC template scripts of the template directory."""
    monkeypatch.setenv("TRIO_LXC_TEMPLATE_DIR", str(tmp_path))
    script = tmp_path / "lxc-mine"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    with pytest.raises(LxcError) as info:
        get_template("nosuch")
    assert str(info.value) == (
        "unknown template 'nosuch' (available: busybox, download, local, mine, none, "
        "or the path of a template script)"
    )
    assert sorted(TEMPLATES) == ["busybox", "none"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--release", "bookworm"], "unrecognized arguments: --release bookworm"),
        (["--busybox"], "unrecognized arguments: --busybox"),
        (["-h"], "unrecognized arguments: -h"),
        (["--busybox-path"], "expected one argument"),
        (["--busybox-path="], "non-empty PATH"),
    ],
)
def test_bad_template_arguments_are_errors(tmp_path, args, reason):
    ctx = make_ctx(tmp_path, args=args)
    with pytest.raises(LxcError) as info:
        get_template("busybox")(ctx)
    assert str(info.value).startswith("busybox template: ")
    assert reason in str(info.value)
    assert os.listdir(ctx.rootfs) == []


def test_negative_tty_max_is_refused(tmp_path):
    with pytest.raises(LxcError, match="lxc.tty.max"):
        make_ctx(tmp_path, tty_max=-1)


# --- none ----------------------------------------------------------------------


def test_none_template_leaves_the_rootfs_empty(tmp_path):
    ctx = make_ctx(tmp_path)
    assert get_template("none")(ctx) == []
    assert os.listdir(ctx.rootfs) == []
    assert os.listdir(ctx.path) == ["rootfs"]


def test_none_template_refuses_arguments(tmp_path):
    ctx = make_ctx(tmp_path, args=["--", "--busybox-path", "/bin/busybox"])
    with pytest.raises(LxcError, match="takes no arguments"):
        get_template("none")(ctx)
