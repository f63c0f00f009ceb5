"""runtime.client.lean_os gives what `os` gives, for what the commands use of it.

The commands' start-up imports it in place of `os` (~1-1.5 ms each); its path
functions are its own, so they are checked against posixpath's on the cases a
command meets (relative, absolute, `.`/`..`, repeated slashes, symlinks), and
its environment reads against os.environ.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest

from runtime.client import lean_os

PATHS = [
    "", ".", "..", "/", "//", "///", "a", "a/", "a//b", "/a/b/", "/a/./b/../c", "../../x",
    "a/../../b", "/..", "/../a", "//a/b", "///a", "./a/./", "a/b/..", "~user/x", "/a/b/c/../../..",
]  # fmt: skip


@pytest.mark.parametrize("value", PATHS)
def test_path_functions_match_posixpath(value: str) -> None:
    assert lean_os._normpath(value) == posixpath.normpath(value)
    assert lean_os.path.dirname(value) == posixpath.dirname(value)
    if value:
        assert lean_os.path.abspath(value) == posixpath.abspath(value)


@pytest.mark.parametrize("parts", [("a", "b"), ("/a", "b", "/c", "d"), ("a/", "b"), ("", "x"), ("a", "")])
def test_join_matches_posixpath(parts: tuple[str, ...]) -> None:
    assert lean_os.path.join(*parts) == posixpath.join(*parts)


def test_realpath_and_tests_follow_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real" / "dir"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (real / "file").write_text("x")
    monkeypatch.chdir(tmp_path)
    for value in (str(tmp_path / "link"), "link", "link/..", "link/file", str(tmp_path / "dangling"), "missing/x"):
        assert lean_os.path.realpath(value) == os.path.realpath(value), value
        assert lean_os.path.exists(value) == os.path.exists(value), value
        assert lean_os.path.lexists(value) == os.path.lexists(value), value
        assert lean_os.path.isdir(value) == os.path.isdir(value), value
        assert lean_os.path.isfile(value) == os.path.isfile(value), value


def test_environment_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIO_LXC_LEAN_OS_TEST", "välue")
    monkeypatch.delenv("TRIO_LXC_LEAN_OS_ABSENT", raising=False)
    assert lean_os.environ.get("TRIO_LXC_LEAN_OS_TEST") == "välue"
    assert "TRIO_LXC_LEAN_OS_TEST" in lean_os.environ
    assert lean_os.environ.get("TRIO_LXC_LEAN_OS_ABSENT") is None
    assert lean_os.environ.get("TRIO_LXC_LEAN_OS_ABSENT", "d") == "d"
    assert "TRIO_LXC_LEAN_OS_ABSENT" not in lean_os.environ
