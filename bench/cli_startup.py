"""Start-up cost of the client commands, side by side with the bare interpreter and LXC.

Reports the median wall time of `python -c pass`, our `lxc-ls -1` and
`lxc-info -n X`, and LXC's own `lxc-ls -1` / `lxc-info -n X` when /usr/bin has them,
all in one run on one machine, with ratios. Target: ours within 1.5x of the bare
interpreter. Run: `make bench` or `.venv/bin/python bench/cli_startup.py [-n RUNS]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def median_ms(argv: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=30)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-") as tmp:
        lxcpath = os.path.join(tmp, "lxc")
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        conf = os.path.join(tmp, "empty.conf")
        Path(conf).write_text("lxc.net.0.type = empty\n")
        for i in range(20):
            subprocess.run(
                [str(BIN / "lxc-create"), "-P", lxcpath, "-n", f"bench{i}", "-t", "none", "-f", conf],
                env=env, check=True,
            )  # fmt: skip
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("ours: lxc-ls -1", [str(BIN / "lxc-ls"), "-P", lxcpath, "-1"]),
            ("ours: lxc-info -n X", [str(BIN / "lxc-info"), "-P", lxcpath, "-n", "bench0"]),
        ]
        for tool in ("lxc-ls", "lxc-info"):
            if os.path.exists(f"/usr/bin/{tool}"):
                args = ["-1"] if tool == "lxc-ls" else ["-n", "bench0"]
                cases.append((f"LXC:  {tool} {' '.join(args)}", [f"/usr/bin/{tool}", "-P", lxcpath, *args]))
        results = [(label, median_ms(argv, runs, env)) for label, argv in cases]
    bare = results[0][1]
    print(f"median of {runs} runs each (ms); ratio to the bare interpreter")
    for label, ms in results:
        print(f"  {label:<24} {ms:7.1f} ms   x{ms / bare:4.2f}")
    print("target: ours within x1.50 of `python -c pass`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
