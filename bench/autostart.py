"""lxc-autostart of N containers of one order value, ours against LXC 5.

LXC's lxc-autostart starts the containers it selected one after the other; ours
sends the whole set to the daemon in one request, which starts the containers of
one lxc.start.order value together. Measured: the wall time of `lxc-autostart`
(it returns once every container is running) and of `lxc-autostart -k`, our
daemon already up. A busybox container starts in a few milliseconds under LXC, so
here the Python client and the daemon's per-start work dominate; the concurrency
pays where starts are slow (hooks, network set-up, many containers).

Run as root: `.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/autostart.py [--sizes 10,30]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import shutdown_ours  # noqa: E402

BIN = Path(sys.executable).parent
CONF = "lxc.net.0.type = empty\nlxc.start.auto = 1\n"


def create_all(tools: Path, lxcpath: str, n: int, env: dict[str, str]) -> list[str]:
    conf = os.path.join(os.path.dirname(lxcpath), f"{os.path.basename(lxcpath)}.conf")
    Path(conf).write_text(CONF)
    names = [f"a{i:04d}" for i in range(n)]
    subprocess.run([str(tools / "lxc-create"), "-P", lxcpath, "-n", names[0], "-t", "busybox", "-f", conf],
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    for name in names[1:]:
        subprocess.run([str(tools / "lxc-copy"), "-P", lxcpath, "-n", names[0], "-N", name],
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return names


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def warm_daemon(lxcpath: str, env: dict[str, str]) -> None:
    """Our daemon up before the clock starts (LXC has none to start)."""
    code = "import sys; from runtime.client.daemon_client import connect; connect(sys.argv[1]).close()"
    subprocess.run([sys.executable, "-c", code, lxcpath], env=env, check=True)


def measure(tools: Path, lxcpath: str, n: int, env: dict[str, str]) -> tuple[float, float]:
    os.mkdir(lxcpath)
    try:
        create_all(tools, lxcpath, n, env)
        if tools == BIN:
            warm_daemon(lxcpath, env)
        start = timed([str(tools / "lxc-autostart"), "-P", lxcpath], env)
        kill = timed([str(tools / "lxc-autostart"), "-P", lxcpath, "-k"], env)
        return start, kill
    finally:
        subprocess.run([str(tools / "lxc-autostart"), "-P", lxcpath, "-k"], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if tools == BIN:
            shutdown_ours(lxcpath, env)
        shutil.rmtree(lxcpath, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,30")
    args = parser.parse_args()
    print(f"{'':6} {'N':>4} {'lxc-autostart s':>16} {'lxc-autostart -k s':>19}")
    with tempfile.TemporaryDirectory(prefix="trio-lxc-autostart-") as tmp:
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        for n in [int(x) for x in args.sizes.split(",") if x]:
            start, kill = measure(BIN, os.path.join(tmp, f"ours{n}"), n, env)
            print(f"{'ours':6} {n:4} {start:16.2f} {kill:19.2f}")
            if Path("/usr/bin/lxc-autostart").exists():
                start, kill = measure(Path("/usr/bin"), os.path.join(tmp, f"lxc{n}"), n, dict(os.environ))
                print(f"{'LXC':6} {n:4} {start:16.2f} {kill:19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
