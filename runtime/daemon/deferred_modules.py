"""Modules the daemon's libraries import but the daemon never uses: loaded on first use.

Why: the daemon is a fixed cost per lxcpath, counted in every container's share of
host memory (README, "Speed": memory per container). trio imports `ssl` (its TLS
streams) and `idna` (host names of IP sockets) when it is imported, `shutil` imports
`bz2` and `lzma` (its archive formats), `logging.handlers` imports `pickle` (its
socket handler). The daemon speaks TLS to nobody, resolves no host name, packs no
archive and pickles nothing, yet these cost it about 1.5 MiB of private memory
(OpenSSL's libraries and initialisation are most of it; measured by `smaps_rollup`
with and without them).

How: `defer()` puts a placeholder module in `sys.modules` under each name before
anything imports it. `import ssl` then binds the placeholder and runs nothing; the
first attribute read on it (`ssl.SSLError`, `from ssl import X`) imports the real
module, copies its namespace into the placeholder and returns the attribute, so a
use is served exactly as before, only later. Nothing here changes what a module
does, only when its import runs.

Call it first thing in the daemon's entry point (runtime.daemon.__main__), before
trio is imported; a name already imported is left alone.
"""

from __future__ import annotations

import importlib
import sys
import types

#: Imported by the daemon's libraries at their import, used by none of its paths.
DEFERRED = ("ssl", "idna", "bz2", "lzma", "pickle")


class DeferredModule(types.ModuleType):
    """A placeholder that becomes the real module on its first attribute read."""

    def __getattr__(self, attribute: str) -> object:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]  # so that the import below runs the real module
        real = importlib.import_module(name)
        vars(self).update(vars(real))
        return getattr(real, attribute)


def defer(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Put a placeholder for each of `names` not yet imported; the names deferred."""
    deferred = []
    for name in names:
        if name in sys.modules:
            continue
        placeholder = DeferredModule(name)
        placeholder.__spec__ = None  # the import system's checks read it without loading
        sys.modules[name] = placeholder
        deferred.append(name)
    return deferred

