"""Every config file Debian's `lxc` package ships parses and converts to the model.

These are real LXC 5 configs (distribution defaults, userns variants, nesting,
includes of directories that may not exist), so they catch keys or value forms the
key table lacks. The files are read where the package installs them, not copied.
"""

from __future__ import annotations

import os

import pytest

from runtime.config import model, writer
from runtime.config.parser import parse_file, parse_text

CONFIG_DIR = "/usr/share/lxc/config"


def _corpus() -> list[str]:
    if not os.path.isdir(CONFIG_DIR):
        return []
    found = []
    for directory, _dirs, files in os.walk(CONFIG_DIR):
        found += [os.path.join(directory, name) for name in files if name.endswith(".conf")]
    return sorted(found)


CORPUS = _corpus()

pytestmark = pytest.mark.skipif(
    not os.path.isdir(CONFIG_DIR),
    reason=f"{CONFIG_DIR} is missing: install Debian's 'lxc' package (CI does)",
)


@pytest.mark.parametrize("path", CORPUS or ["<none>"], ids=lambda p: os.path.relpath(p, CONFIG_DIR))
def test_corpus_file_parses_and_converts(path):
    raw = parse_file(path)
    cfg = model.from_raw(raw)
    # what the model writes back reads back to the same model
    assert model.from_raw(parse_text(writer.render_model(cfg))) == cfg


def test_corpus_is_not_trivial():
    # a sanity check that the walk found the package's files, includes and all
    assert len(CORPUS) >= 10
    cfg = model.load(os.path.join(CONFIG_DIR, "common.conf"))
    assert cfg.tty_max is not None
    assert cfg.cgroup.get("devices.allow")
