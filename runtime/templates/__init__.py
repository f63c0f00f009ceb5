"""Container templates: what `lxc-create -t NAME` runs to fill a new rootfs.

LXC runs a template as an external shell script (`/usr/share/lxc/templates/lxc-NAME`)
that appends to the config file itself. Here a template is a Python callable: it gets
a TemplateContext, populates `ctx.rootfs` and returns the (key, value) pairs to add to
the container's config, so the store stays the only writer of the config file and a
failed template leaves no half-written config behind.

Built in:
- `busybox`: a system container whose every command is one static busybox binary
  (LXC's `lxc-busybox` rebuilt; see runtime/templates/busybox.py for the differences).
- `none`: leaves the rootfs empty and adds nothing (for a rootfs filled by other means).

Executable LXC-style template scripts (`-t /path/to/lxc-foo`) are not supported yet.

This module imports only the stdlib and the small base module: each template's own
module is imported when that template runs, so `lxc-create` pays only for what it uses.
"""

from __future__ import annotations

from runtime.errors import LxcError
from runtime.templates.base import ConfigItems, Template, TemplateContext, template_args

__all__ = [
    "TEMPLATES",
    "ConfigItems",
    "Template",
    "TemplateContext",
    "get_template",
    "template_args",
]


def _busybox(ctx: TemplateContext) -> ConfigItems:
    """The busybox template, imported on first use."""
    from runtime.templates import busybox

    return busybox.build(ctx)


def _none(ctx: TemplateContext) -> ConfigItems:
    """The none template, imported on first use."""
    from runtime.templates import none

    return none.build(ctx)


#: Template name -> template. Names are what `lxc-create -t` accepts.
TEMPLATES: dict[str, Template] = {
    "busybox": _busybox,
    "none": _none,
}


def get_template(name: str) -> Template:
    """The template called `name`; LxcError naming the available ones otherwise."""
    try:
        return TEMPLATES[name]
    except KeyError:
        available = ", ".join(sorted(TEMPLATES))
        raise LxcError(f"unknown template '{name}' (available: {available})") from None
