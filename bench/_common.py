"""What the benchmarks share."""

from __future__ import annotations

import subprocess
import sys


def shutdown_ours(lxcpath: str, env: dict[str, str]) -> None:
    """Stop our daemon for `lxcpath` (in a child, so that `env`'s run directory is used)."""
    code = "import sys; from runtime.client.daemon_client import shutdown_daemon; shutdown_daemon(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, lxcpath], env=env, check=False)
