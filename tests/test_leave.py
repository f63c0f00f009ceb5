"""cli.leave: a command's exit without the interpreter's tear-down still does what an
exit must (status, buffered output, atexit functions, non-daemon threads)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parent.parent)


def run(code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.path.insert(0, {ROOT!r}); from cli.leave import leave\n"
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("status", "code"), [("0", 0), ("None", 0), ("3", 3), ("256 + 7", 7), ("-1", 255)])
def test_the_status_is_the_exit_code(status: str, code: int) -> None:
    assert run(f"leave({status})").returncode == code


def test_buffered_output_and_atexit_functions_are_not_lost() -> None:
    result = run(
        "import atexit\n"
        "atexit.register(lambda: sys.stdout.write('atexit ran\\n'))\n"
        "sys.stdout.write('no newline yet')\n"
        "sys.stderr.write('err')\n"
        "leave(4)\n"
    )
    assert result.returncode == 4
    assert result.stdout == "no newline yetatexit ran\n"
    assert result.stderr == "err"


def test_a_running_thread_is_waited_for() -> None:
    result = run(
        "import threading, time\n"
        "def late(): time.sleep(0.2); sys.stdout.write('thread done\\n')\n"
        "threading.Thread(target=late).start()\n"
        "leave(0)\n"
    )
    assert result.returncode == 0 and result.stdout == "thread done\n"


def test_a_string_status_exits_as_sys_exit_does() -> None:
    result = run("leave('lxc-x: failed')")
    assert result.returncode == 1 and result.stderr == "lxc-x: failed\n"


def test_a_stdout_that_cannot_be_flushed_ends_as_before() -> None:
    """The flush fails: the interpreter's own exit reports it (status 120), as without leave."""
    result = run(
        "class Gone:\n"
        "    def write(self, text): return len(text)\n"
        "    def flush(self): raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.stdout = Gone()\n"
        "leave(0)\n"
    )
    assert result.returncode == 120 and "BrokenPipeError" in result.stderr
