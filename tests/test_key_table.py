"""Every key of the table takes effect, or a start refuses or warns about it.

The table (`runtime.config.keys`) declares for each key the function that applies
it (`applied_by`), or that a start refuses it, warns about it, or treats it as an
LSM key. This walks EXACT_KEYS, PREFIX_KEYS and NET_KEYS: a key with no
declaration fails, and so does an `applied_by` that names no importable function or
a function whose source never reads the key's model field (nor the key by name).
So a key cannot be added as a silent no-op, nor keep a declaration the code
stopped honouring.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable

import pytest

from runtime.client.errors import ConfigError
from runtime.config import keys, unsupported
from runtime.config.parser import parse_text

#: (the key as written in a config, its spec)
ALL_KEYS = (
    [(spec.name, spec) for spec in keys.EXACT_KEYS]
    + [(prefix + "*", spec) for prefix, spec in keys.PREFIX_KEYS]
    + [(f"lxc.net.N.{spec.name}", spec) for spec in keys.NET_KEYS]
)

#: Keys other work makes take effect (seccomp, hooks, user namespaces): refused
#: here until then, and the walk accepts that.
LEFT_REFUSED = {"lxc.seccomp.notify.proxy", "lxc.seccomp.notify.cookie"}


def resolve(dotted: str) -> Callable[..., object]:
    """`pkg.module.Class.method` -> the object, importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        if isinstance(target, property):  # DevicePlan.up: its getter applies the key
            target = target.fget
        assert callable(target), f"{dotted} is not a function"
        return target
    raise AssertionError(f"{dotted}: no module to import")


def reads_key(source: str, spec: keys.KeySpec, written: str) -> bool:
    """The source reads the model field (`cfg.tty_max`, `"signal_halt"`) or the key
    by name (`"lxc.init.cmd"`)."""
    if re.search(rf"\b{re.escape(spec.field)}\b", source):
        return True
    return not written.startswith("lxc.net.N.") and f'"{written.rstrip("*")}' in source


def declarations(spec: keys.KeySpec) -> list[str]:
    found = []
    if spec.applied_by is not None:
        found.append("applied_by")
    if spec.lsm is not None:
        found.append("lsm")
    elif spec.refused is not None:
        found.append("refused")
    if spec.warned is not None:
        found.append("warned")
    return found


@pytest.mark.parametrize(("written", "spec"), ALL_KEYS, ids=[w for w, _ in ALL_KEYS])
def test_every_key_is_applied_refused_or_warned(written: str, spec: keys.KeySpec) -> None:
    found = declarations(spec)
    assert len(found) == 1, f"{written}: declares {found or 'nothing'}; give exactly one"
    if spec.applied_by is not None:
        function = resolve(spec.applied_by)
        source = inspect.getsource(function)
        assert reads_key(source, spec, written), (
            f"{written}: {spec.applied_by} never reads '{spec.field}' (nor the key by name)"
        )
    if spec.lsm is not None:
        assert spec.lsm in ("apparmor", "selinux") and spec.refused, written
    if written in LEFT_REFUSED:
        assert spec.refused is not None, f"{written} is other work's: keep it refused here"


@pytest.mark.parametrize(
    ("written", "spec"),
    [(w, s) for w, s in ALL_KEYS if s.applied_by is None],
    ids=[w for w, s in ALL_KEYS if s.applied_by is None],
)
def test_every_key_not_applied_is_refused_or_warned_by_a_start(
    written: str, spec: keys.KeySpec
) -> None:
    """The declaration is what a start does: a value that asks for something is
    refused (ConfigError naming the key) or warned about (one line naming it)."""
    key = written.replace("lxc.net.N.", "lxc.net.0.").replace("*", _member(written))
    value = _value_asking_for_something(spec)
    text = f"{key} = {value}\n"
    if key.startswith("lxc.net.0.") and not key.endswith(".type"):
        text = "lxc.net.0.type = veth\n" + text
    raw = parse_text(text, "c.conf")
    if spec.warned is not None or spec.lsm is not None:
        warnings = unsupported.check(raw, frozenset())
        assert [w.split(":")[0] for w in warnings] == [key], warnings
    if spec.refused is not None:
        lsms = frozenset({spec.lsm}) if spec.lsm else frozenset()
        with pytest.raises(ConfigError) as caught:
            unsupported.check(raw, lsms)
        assert caught.value.key == key


def _member(written: str) -> str:
    return {"lxc.hook.*": "pre-start"}.get(written, "x")


def _value_asking_for_something(spec: keys.KeySpec) -> str:
    for candidate in ("1", "SIGTERM", "7", "u 0 100000 65536", "/some/path"):
        try:
            spec.check(candidate)
        except ValueError:
            continue
        if candidate == "0" or candidate in spec.quiet:
            continue
        return candidate
    raise AssertionError(f"{spec.name}: no test value")


def test_quiet_values_pass_without_a_word() -> None:
    """LXC's defaults of keys we do not apply ask for nothing: no refusal, no warning."""
    raw = parse_text(
        "lxc.monitor.unshare = 0\nlxc.monitor.signal.pdeath = 9\nlxc.start.auto = 0\n"
        "lxc.start.delay = 0\nlxc.start.order = 0\nlxc.apparmor.profile = unconfined\n",
        "c.conf",
    )
    assert unsupported.check(raw, frozenset({"apparmor"})) == []


def test_monitor_keys_say_why_and_what_to_do() -> None:
    raw = parse_text("lxc.monitor.unshare = 1\n", "c.conf")
    with pytest.raises(ConfigError) as caught:
        unsupported.check(raw, frozenset())
    message = str(caught.value)
    assert message.startswith("c.conf:1: lxc.monitor.unshare: ")
    assert "no per-container monitor" in message and "remove the key" in message
