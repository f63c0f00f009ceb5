"""What a template receives and returns.

A template populates a container's rootfs and returns the configuration lines the
container needs to run what it installed. It works on a build directory that the
store renames into place afterwards, which is why the context carries two rootfs
paths: `rootfs`, where files go now, and `final_rootfs`, the only one that may be
written into a file that outlives the build.

Standard library only: `lxc-create` imports this on its start-up path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from runtime.client.errors import LxcError

#: Configuration lines a template adds, as (key, value) pairs in file order.
ConfigItems = list[tuple[str, str]]


class TemplateContext:
    """Everything a template may use to build one container.

    name: the container's name.
    path: the container directory being built (a temporary name under lxcpath that
        is renamed into place afterwards; never write it into the container's files).
    rootfs: absolute path of the rootfs directory to populate; it exists and is empty.
    final_rootfs: the rootfs path after the rename, for values that must name it.
    args: the template's own arguments (what follows `--` on lxc-create's line).
    tty_max: `lxc.tty.max` from the configuration the container is created with, or
        None when that configuration does not set it (the template then picks).
    """

    __slots__ = ("name", "path", "rootfs", "final_rootfs", "args", "tty_max")

    def __init__(
        self,
        *,
        name: str,
        path: str,
        rootfs: str,
        final_rootfs: str,
        args: Sequence[str] = (),
        tty_max: int | None = None,
    ) -> None:
        if tty_max is not None and tty_max < 0:
            raise LxcError(f"lxc.tty.max must not be negative (got {tty_max})")
        self.name = name
        self.path = path
        self.rootfs = rootfs
        self.final_rootfs = final_rootfs
        self.args: tuple[str, ...] = tuple(args)
        self.tty_max = tty_max

    def __repr__(self) -> str:
        return (
            f"TemplateContext(name={self.name!r}, path={self.path!r}, rootfs={self.rootfs!r}, "
            f"final_rootfs={self.final_rootfs!r}, args={self.args!r}, tty_max={self.tty_max!r})"
        )


#: A template: populates `ctx.rootfs` and returns the configuration lines to add
#: (never `lxc.rootfs.path`, which the store writes). Raises LxcError on failure,
#: leaving whatever it created under `ctx.rootfs` for the store to remove.
Template = Callable[[TemplateContext], ConfigItems]


def template_args(args: Sequence[str]) -> list[str]:
    """The template's arguments without a leading `--` separator.

    Whether argparse's REMAINDER keeps the `--` of `lxc-create ... -- ARGS` depends
    on the Python version, so every template accepts both forms.
    """
    items = list(args)
    if items and items[0] == "--":
        del items[0]
    return items
