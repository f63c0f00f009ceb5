"""The `busybox` template: a small system container run by busybox's init.

What it builds is what LXC 5's `lxc-busybox` builds, rewritten, checked against
real LXC 5.0.2 output: LXC's directory tree, the busybox binary at /bin/busybox
(setuid, as LXC leaves it: its `passwd` applet needs it and busybox drops the
privilege for every applet not marked as needing it), a symlink in /bin for every
applet, /sbin/init a hard link to /bin/busybox, a root user, an inittab that runs
/etc/init.d/rcS then offers gettys and a console shell, a udhcpc event script at the
path the binary was built with, and the configuration lines LXC appends (halt on
SIGUSR1, reboot on SIGTERM, autodev, ttys, capabilities to drop, mounts).

Where it differs from LXC on purpose:
- A getty on every tty 1..lxc.tty.max, not only on tty1, so `lxc-console -t N`
  finds a login prompt on each tty the container is given.
- Root has an empty password in /etc/shadow (mode 0600); LXC's empty shadow file
  makes busybox `login` refuse every password, so no tty login is possible until
  someone runs `passwd` through lxc-attach. The console already gives a root shell
  without a password (`console::askfirst:/bin/sh`, as in LXC) and the ttys are
  reachable only from the host, so this opens nothing new; set a password before
  starting a network login service (telnetd) in the container.
- rcS mounts fstab before starting syslogd (a tmpfs on /var/log must exist before
  the log does), brings `lo` up, and runs udhcpc in the background and only on
  interfaces that came up without an address while there is no default route.
  LXC runs `udhcpc` in the foreground on eth0: without a DHCP server that never
  returns and init, which waits for its sysinit script, never starts the gettys;
  and a container sharing the host's network would re-address the host.
- The host's library directories are bind-mounted read-only only when the busybox
  binary is dynamically linked (its ELF header names an interpreter); a static
  busybox needs none of them, and LXC's binds show the host's /lib to the container.
- The udhcpc script directory is 0755 (LXC makes it 0644, untraversable).
- No `::shutdown:/bin/umount -a -r`: in a privileged container `-r` would remount
  the filesystem holding the rootfs, the host's, read-only.

No path under the build directory is ever written into a file: the directory is
renamed into place after the template has run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable
from typing import NoReturn

from runtime.client.errors import LxcError
from runtime.storage.templates.base import ConfigItems, TemplateContext, template_args

#: The value LXC's template writes for lxc.tty.max, used when the config has none.
DEFAULT_TTY_MAX = 5

#: Directories of the rootfs, parents before children; all 0755 except tmp.
DIRECTORIES = (
    "selinux",
    "dev",
    "dev/pts",
    "home",
    "root",
    "etc",
    "etc/init.d",
    "bin",
    "sbin",
    "usr",
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib64",
    "proc",
    "sys",
    "mnt",
    "tmp",
    "var",
    "var/log",
    "var/run",
    "lib",
    "lib64",
)

#: Host library directories a dynamically linked busybox may need, bound read-only.
LIBRARY_DIRECTORIES = ("lib", "usr/lib", "lib64", "usr/lib64")

#: Where busybox's udhcpc looks for its event script when the binary does not say.
UPSTREAM_UDHCPC_SCRIPT = "/usr/share/udhcpc/default.script"

#: The PATH used to find busybox, after the caller's own (as LXC's template does).
FALLBACK_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

_RUN_TIMEOUT = 30.0
_INSTALL_HINT = "install it (apt-get install busybox-static) or pass --busybox-path PATH"


# --- arguments ---------------------------------------------------------------


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad template argument as an LxcError, never exits."""

    def error(self, message: str) -> NoReturn:
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise LxcError(f"busybox template: {message} (usage: {usage})")


def _parser() -> _ArgumentParser:
    parser = _ArgumentParser(
        prog="lxc-create -t busybox --",
        add_help=False,
        allow_abbrev=False,
        exit_on_error=False,
    )
    parser.add_argument(
        "--busybox-path", metavar="PATH", help="the busybox binary to install (default: from PATH)"
    )
    # LXC passes these to a template of a container with lxc.idmap. Accepted for
    # compatibility; lxc-create itself shifts the rootfs by the maps (runtime.userns).
    for option in ("--mapped-uid", "--mapped-gid"):
        parser.add_argument(option, metavar="ID", type=int, help="accepted, as LXC's")
    return parser


def parse_args(args: Iterable[str]) -> str | None:
    """The `--busybox-path` value, or None; LxcError for anything else on the line."""
    items = template_args(list(args))
    try:
        ns = _parser().parse_args(items)
    except argparse.ArgumentError as err:
        raise LxcError(f"busybox template: {err}") from None
    path: str | None = ns.busybox_path
    if path == "":
        raise LxcError("busybox template: --busybox-path needs a non-empty PATH")
    return path


# --- the busybox binary ------------------------------------------------------


def find_busybox(requested: str | None) -> str:
    """Absolute path of the busybox binary to install, checked to be an executable file.

    Without --busybox-path, `busybox` is looked up in PATH and then in the standard
    directories, as LXC's template does.
    """
    if requested is None:
        search = os.pathsep.join(p for p in (os.environ.get("PATH"), FALLBACK_PATH) if p)
        found = shutil.which("busybox", path=search)
        if found is None:
            raise LxcError(f"busybox template: no busybox binary found in PATH; {_INSTALL_HINT}")
        requested = found
    path = os.path.abspath(requested)
    if not os.path.exists(path):
        raise LxcError(f"busybox template: busybox binary '{path}' not found; {_INSTALL_HINT}")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise LxcError(f"busybox template: '{path}' is not an executable file")
    return path


def needs_shared_libraries(path: str) -> bool:
    """Whether the ELF executable at `path` is dynamically linked (has PT_INTERP).

    A static-pie binary has a dynamic section but no interpreter, and needs no
    library from the host, so the interpreter is the test, not PT_DYNAMIC.
    """
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 52 or header[:4] != b"\x7fELF":
            raise LxcError(f"busybox template: '{path}' is not an ELF executable")
        elf_class, data = header[4], header[5]
        if elf_class not in (1, 2) or data not in (1, 2):
            raise LxcError(f"busybox template: '{path}' has an unknown ELF class or byte order")
        order = "<" if data == 1 else ">"
        if elf_class == 2:
            (phoff,) = struct.unpack_from(order + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x36)
        else:
            (phoff,) = struct.unpack_from(order + "I", header, 0x1C)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x2A)
        if phnum == 0xFFFF:  # PN_XNUM: the real count is elsewhere; assume the worst
            return True
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    for i in range(phnum):
        start = i * phentsize
        if start + 4 > len(table):
            break
        (p_type,) = struct.unpack_from(order + "I", table, start)
        if p_type == pt_interp:
            return True
    return False


def _run(exe: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the host's busybox with a plain environment, capturing its output."""
    try:
        return subprocess.run(
            [exe, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env={"PATH": FALLBACK_PATH, "LC_ALL": "C"},
            timeout=_RUN_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LxcError(f"busybox template: cannot run '{exe} {' '.join(args)}': {err}") from None


def list_applets(exe: str) -> list[str]:
    """The applet names `busybox --list` prints, minus `busybox` itself.

    A name that could not be a file name in /bin is dropped rather than trusted.
    """
    result = _run(exe, "--list")
    if result.returncode != 0:
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        raise LxcError(f"busybox template: '{exe} --list' failed: {detail}")
    applets: list[str] = []
    for line in result.stdout.splitlines():
        name = line.strip()
        if not name or name in (".", "..", "busybox") or "/" in name or "\0" in name:
            continue
        if name not in applets:
            applets.append(name)
    if not applets:
        raise LxcError(f"busybox template: '{exe} --list' printed no applets")
    return applets


_DEFAULT_SCRIPT = re.compile(r"-s\s+PROG\b.*\(default\s+(/[^)\s]+)\)")


def udhcpc_script_path(exe: str) -> str:
    """The event script path this udhcpc runs by default, from `udhcpc --help`.

    Distributions change it (Debian: /etc/udhcpc/default.script), so the binary is
    asked; busybox's own default is the fallback.
    """
    result = _run(exe, "udhcpc", "--help")
    match = _DEFAULT_SCRIPT.search(result.stdout + result.stderr)
    path = match.group(1) if match else UPSTREAM_UDHCPC_SCRIPT
    path = os.path.normpath(path)
    if not path.startswith("/") or ".." in path.split("/") or path == "/":
        return UPSTREAM_UDHCPC_SCRIPT
    return path


# --- file contents -----------------------------------------------------------

PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:root\n"
#: Empty password, no ageing (empty last-change field): `login` as root needs none.
SHADOW = "root:::0:99999:7:::\n"


def inittab(tty_count: int) -> str:
    """busybox init's table: rcS once, a getty per tty, a shell on the console."""
    lines = [
        "# busybox init table, written by trio-lxc's busybox template.",
        "# One getty per tty: keep them in step with lxc.tty.max in the container's",
        "# config (a getty on a tty the container lacks is respawned in a loop).",
        "::sysinit:/etc/init.d/rcS",
    ]
    lines += [f"tty{n}::respawn:/bin/getty -L tty{n} 115200 vt100" for n in range(1, tty_count + 1)]
    lines.append("console::askfirst:/bin/sh")
    return "\n".join(lines) + "\n"


_RCS_HEAD = """\
#!/bin/sh
# Run once at boot by init (::sysinit in /etc/inittab), before the gettys.
/bin/mount -a
"""

_RCS_DHCP = """\
# DHCP, in the background so that a missing server does not hold up the boot (init
# waits for this script), and only on interfaces that came up without an IPv4
# address while there is no default route: addresses set by lxc.net.N.ipv4.* stay,
# and a container sharing the host's (routed) network leaves the host's alone.
if ! /bin/ip -4 route show default 2>/dev/null | /bin/grep -q default; then
    for dev in /sys/class/net/*; do
        iface=${dev##*/}
        [ -e "$dev" ] && [ "$iface" != lo ] || continue
        /bin/ip -4 addr show dev "$iface" 2>/dev/null | /bin/grep -q inet && continue
        /bin/udhcpc -S -i "$iface" -p "/var/run/udhcpc.$iface.pid" >/dev/null 2>&1 &
    done
fi
"""


def rcs(applets: Iterable[str]) -> str:
    """The boot script, using only the applets this busybox has."""
    have = set(applets)
    text = _RCS_HEAD
    if "syslogd" in have:
        text += "/bin/syslogd\n"
    if "ip" in have:
        text += "/bin/ip link set lo up 2>/dev/null\n"
    if {"ip", "grep", "udhcpc"} <= have:
        text += _RCS_DHCP
    return text


UDHCPC_SCRIPT = """\
#!/bin/sh
# udhcpc event script: applies a DHCP lease to $interface with busybox's ip.
# udhcpc passes the event as $1 and the lease in $ip, $mask (prefix length),
# $broadcast, $router, $dns and $domain.
PATH=/bin:/sbin:/usr/bin:/usr/sbin

case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
bound|renew)
    if ! ip -4 addr show dev "$interface" | grep -q " inet $ip/${mask:-32} "; then
        ip -4 addr flush dev "$interface"
        if [ -n "$broadcast" ]; then
            ip addr add "$ip/${mask:-32}" broadcast "$broadcast" dev "$interface"
        else
            ip addr add "$ip/${mask:-32}" dev "$interface"
        fi
    fi
    if [ -n "$router" ]; then
        while ip route del default dev "$interface" 2>/dev/null; do :; done
        for gw in $router; do
            ip route add default via "$gw" dev "$interface" && break
        done
    fi
    if [ -n "$dns" ] || [ -n "$domain" ]; then
        {
            [ -n "$domain" ] && echo "search $domain"
            for ns in $dns; do echo "nameserver $ns"; done
        } > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf
    fi
    ;;
esac
exit 0
"""


# --- the configuration -------------------------------------------------------


def container_config(name: str, tty_max: int, shared_libraries: bool) -> ConfigItems:
    """The lines to add to the container's config, in LXC's order.

    `lxc.tty.max` is always written, even when the config already has the same
    value: the inittab's gettys were made for exactly that many ttys.
    """
    items: ConfigItems = [
        ("lxc.signal.halt", "SIGUSR1"),
        ("lxc.signal.reboot", "SIGTERM"),
        ("lxc.uts.name", name),
        ("lxc.autodev", "1"),
        ("lxc.tty.max", str(tty_max)),
        ("lxc.pty.max", "1"),
        ("lxc.cap.drop", "sys_module mac_admin mac_override sys_time"),
        ("lxc.mount.auto", "cgroup:mixed proc:mixed sys:ro"),
        ("lxc.mount.entry", "shm dev/shm tmpfs defaults,create=dir 0 0"),
        ("lxc.mount.entry", "mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0"),
    ]
    if shared_libraries:
        for directory in LIBRARY_DIRECTORIES:
            if os.path.isdir("/" + directory):
                items.append(("lxc.mount.entry", f"/{directory} {directory} none ro,bind 0 0"))
    items.append(
        (
            "lxc.mount.entry",
            "/sys/kernel/security sys/kernel/security none ro,bind,optional 0 0",
        )
    )
    return items


# --- populating the rootfs ---------------------------------------------------


def _write(path: str, text: str, mode: int) -> None:
    """Create a new file (never follow or overwrite) and give it exactly `mode`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        os.fchmod(f.fileno(), mode)


def _mkdir(path: str, mode: int = 0o755) -> None:
    """Create a directory (or accept an existing one) with exactly `mode`, umask aside."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


def _copy_binary(source: str, target: str, mode: int) -> None:
    """Copy the busybox binary into the rootfs and then set its mode (setuid last)."""
    with open(source, "rb") as src:
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o700
        )
        with os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            os.fchmod(dst.fileno(), mode)


def _make_tree(rootfs: str) -> None:
    """LXC's directory tree, modes set explicitly so the caller's umask does not matter."""
    os.chmod(rootfs, 0o755)
    for directory in DIRECTORIES:
        _mkdir(os.path.join(rootfs, directory))
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)  # sticky: anyone may create, none delete others'


def _install_busybox(rootfs: str, exe: str, applets: list[str]) -> None:
    """The binary, a relative symlink per applet (valid inside and outside the
    container), and /sbin/init as a hard link so init needs no symlink lookup."""
    binary = os.path.join(rootfs, "bin", "busybox")
    # LXC's `chmod +s bin/passwd` follows the symlink and marks the binary itself.
    _copy_binary(exe, binary, 0o6755 if "passwd" in applets else 0o755)
    for applet in applets:
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    os.link(binary, os.path.join(rootfs, "sbin", "init"))


def _write_etc(rootfs: str, applets: list[str], tty_count: int) -> None:
    """Users, mounts and the boot sequence; none of them names a host path."""
    etc = os.path.join(rootfs, "etc")
    _write(os.path.join(etc, "passwd"), PASSWD, 0o644)
    _write(os.path.join(etc, "group"), GROUP, 0o644)
    _write(os.path.join(etc, "shadow"), SHADOW, 0o600)
    _write(os.path.join(etc, "fstab"), "", 0o644)  # `mount -a` wants it to exist
    _write(os.path.join(etc, "inittab"), inittab(tty_count), 0o644)
    _write(os.path.join(etc, "init.d", "rcS"), rcs(applets), 0o744)


def _write_udhcpc_script(rootfs: str, script: str) -> None:
    """The lease script at `script` (absolute inside the container), parents 0755."""
    parts = script.strip("/").split("/")
    directory = rootfs
    for part in parts[:-1]:
        directory = os.path.join(directory, part)
        _mkdir(directory)
    _write(os.path.join(directory, parts[-1]), UDHCPC_SCRIPT, 0o744)


def populate(rootfs: str, exe: str, applets: list[str], tty_count: int, script: str | None) -> None:
    """Fill the empty directory `rootfs`; writes nothing outside it."""
    try:
        _make_tree(rootfs)
        _install_busybox(rootfs, exe, applets)
        _write_etc(rootfs, applets, tty_count)
        if script is not None:
            _write_udhcpc_script(rootfs, script)
    except OSError as err:
        raise LxcError(f"busybox template: cannot populate the rootfs: {err}") from None


def build(ctx: TemplateContext) -> ConfigItems:
    """Build a busybox system container in `ctx.rootfs`; return its config lines.

    Everything that can fail without touching the disk (arguments, the binary, its
    applet list) is checked before the first file is created.
    """
    exe = find_busybox(parse_args(ctx.args))
    shared_libraries = needs_shared_libraries(exe)
    applets = list_applets(exe)
    script = udhcpc_script_path(exe) if "udhcpc" in applets else None
    if not os.path.isdir(ctx.rootfs):
        raise LxcError(f"busybox template: rootfs directory '{ctx.rootfs}' does not exist")
    tty_count = DEFAULT_TTY_MAX if ctx.tty_max is None else ctx.tty_max
    populate(ctx.rootfs, exe, applets, tty_count, script)
    return container_config(ctx.name, tty_count, shared_libraries)
