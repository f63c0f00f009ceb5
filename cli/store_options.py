"""LXC's backing-store options of lxc-create and lxc-copy, parsed in one place.

`--fstype`/`--fssize` (loop) and `--dir` (dir) act; `--lvname`, `--vgname`,
`--thinpool` (lvm), `--zfsroot` (zfs), `--rbdname`, `--rbdpool` (rbd) parse and
are refused with the store they belong to (runtime.storage.unavailable), so none
is ever accepted and ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli.options import Namespace

if TYPE_CHECKING:
    from cli.common import LxcArgumentParser
    from runtime.storage.options import StoreOptions

#: Options of stores this host cannot build: (flag, dest).
FOREIGN = (
    ("--lvname", "lvname"), ("--vgname", "vgname"), ("--thinpool", "thinpool"),
    ("--zfsroot", "zfsroot"), ("--rbdname", "rbdname"), ("--rbdpool", "rbdpool"),
)  # fmt: skip

CREATE_HELP = """\
      --dir=DIR                 Place rootfs directory under DIR (-B dir)
      --fstype=TYPE             Create fstype TYPE for a loop rootfs (ext4, ext3, ext2)
      --fssize=SIZE[U]          Size of the loop image, U one of B, K, M, G, T (default 1G)
      --lvname, --vgname, --thinpool   lvm options (lvm: not available)
      --zfsroot=PATH            zfs option (zfs: not available)
      --rbdname, --rbdpool      rbd options (rbd: not available)
"""


def add_create_options(parser: LxcArgumentParser) -> None:
    parser.add_argument("--dir")
    parser.add_argument("--fstype")
    parser.add_argument("--fssize")
    for flag, dest in FOREIGN:
        parser.add_argument(flag, dest=dest)


def store_options(args: Namespace) -> StoreOptions:
    """The StoreOptions of the parsed command line; LxcError for a bad size."""
    from runtime.client.errors import LxcError
    from runtime.storage.options import DEFAULT_FSSIZE, DEFAULT_FSTYPE, StoreOptions, parse_size

    fssize = DEFAULT_FSSIZE
    if getattr(args, "fssize", None):
        try:
            fssize = parse_size(str(args.fssize))
        except ValueError as err:
            raise LxcError(f"--fssize: {err}") from None
    foreign = tuple(flag for flag, dest in FOREIGN if getattr(args, dest, None))
    return StoreOptions(
        fstype=str(getattr(args, "fstype", None) or DEFAULT_FSTYPE),
        fssize=fssize,
        dir=getattr(args, "dir", None),
        foreign=foreign,
    )
