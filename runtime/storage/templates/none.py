"""The `none` template: an empty rootfs and no extra configuration.

For a container whose rootfs is filled by other means (unpacked by hand, a bind
mount, `lxc.rootfs.path` pointing elsewhere). It takes no arguments; passing some is
an error rather than silently ignored, so a typo in `-t` (meaning another template)
does not go unnoticed.
"""

from __future__ import annotations

from runtime.client.errors import LxcError
from runtime.storage.templates.base import ConfigItems, TemplateContext, template_args


def build(ctx: TemplateContext) -> ConfigItems:
    """Leave `ctx.rootfs` as it is (empty) and add no configuration."""
    extra = template_args(ctx.args)
    if extra:
        raise LxcError(f"template 'none' takes no arguments (got: {' '.join(extra)})")
    return []
