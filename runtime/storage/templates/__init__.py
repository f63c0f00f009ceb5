"""Container templates: what `lxc-create -t NAME` runs to fill a new rootfs.

LXC runs a template as an external shell script (`/usr/share/lxc/templates/lxc-NAME`)
that appends to the config file itself. Here a template is a Python callable: it gets
a TemplateContext, populates `ctx.rootfs` and returns the (key, value) pairs to add to
the container's config, so the store stays the only writer of the config file and a
failed template leaves no half-written config behind.

Built in:
- `busybox`: a system container whose every command is one static busybox binary
  (LXC's `lxc-busybox` rebuilt; see runtime/storage/templates/busybox.py for the differences).
- `none`: leaves the rootfs empty and adds nothing (for a rootfs filled by other means).
- `local`: a rootfs and config from an image's metadata and rootfs tarballs, offline
  (LXC 5's `lxc-local`, rebuilt so an untrusted image cannot write outside its
  rootfs: runtime/storage/templates/local.py).
- `download`: LXC's `lxc-download` script, after a bounded check that the image
  server is reachable (runtime/storage/templates/download.py).

Any other name is an LXC template script (`/usr/share/lxc/templates/lxc-NAME`, or a
path): run as LXC runs it (runtime/storage/templates/script.py). `local`, `download` and the
scripts write the config file themselves (LXC's way, `writes_config`), so the store
hands them a ConfigJob instead of a TemplateContext.

This module imports only the stdlib and the small base module: each template's own
module is imported when that template runs, so `lxc-create` pays only for what it uses.
"""

from __future__ import annotations

from runtime.client.errors import LxcError
from runtime.storage.templates.base import ConfigItems, Template, TemplateContext, template_args

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs lxc-create's start-up: annotations only
    from runtime.storage.templates.script import ConfigTemplate

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
    from runtime.storage.templates import busybox

    return busybox.build(ctx)


def _none(ctx: TemplateContext) -> ConfigItems:
    """The none template, imported on first use."""
    from runtime.storage.templates import none

    return none.build(ctx)


#: Template name -> template. Names are what `lxc-create -t` accepts.
TEMPLATES: dict[str, Template] = {
    "busybox": _busybox,
    "none": _none,
}


#: Built-in templates that write the config themselves (see the module docstring).
CONFIG_TEMPLATES = ("download", "local")


def get_template(name: str) -> Template | ConfigTemplate:
    """The template called `name`: a built-in one, else an LXC template script;
    LxcError naming the available ones otherwise."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    if name == "local":
        from runtime.storage.templates.local import LocalTemplate

        return LocalTemplate()
    if name == "download":
        from runtime.storage.templates.download import DownloadTemplate

        return DownloadTemplate()
    from runtime.storage.templates.script import ScriptTemplate, available_scripts, find_script

    path = find_script(name)
    if path is not None:
        return ScriptTemplate(path)
    available = ", ".join(sorted({*TEMPLATES, *CONFIG_TEMPLATES, *available_scripts()}))
    raise LxcError(f"unknown template '{name}' (available: {available}, or the path of a template script)")
