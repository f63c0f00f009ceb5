"""Unprivileged start latency (lxc.idmap, a user namespace), ours against LXC 5.

The same measurements as bench/start_latency.py (`lxc-execute -- /bin/true`, and
a cycle `lxc-start -d` / `lxc-wait -s RUNNING` / `lxc-stop -k`), on a busybox
container created with `lxc.idmap = u|g 0 BASE 65536`, so both runtimes add the
user namespace, the maps written by the parent, the mapped root's cgroups and
terminals. A range for root is added to /etc/subuid and /etc/subgid for the run
(LXC's lxc-create wants it) and both files are restored afterwards. The lxcpaths
are in a 0711 directory: the mapped root must be able to reach the rootfs.

Run: `.venv/bin/python bench/start_unprivileged.py [-n RUNS]` as root (under
`python -m runtime.tools.subreaper --` on machines whose pid 1 does not reap).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from start_latency import BIN, LXC, measure, print_table, shutdown_ours  # bench/ is on sys.path

RANGE = 65536
SUBID_FILES = ("/etc/subuid", "/etc/subgid")


def unprivileged_conf(base: int) -> str:
    return f"lxc.net.0.type = empty\nlxc.idmap = u 0 {base} {RANGE}\nlxc.idmap = g 0 {base} {RANGE}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    runs = parser.parse_args().runs
    base = 3_500_000_000 + random.randrange(0, 1000) * RANGE
    saved = {path: Path(path).read_bytes() if os.path.exists(path) else None for path in SUBID_FILES}
    results: dict[str, dict[str, float]] = {}
    tmp = tempfile.mkdtemp(prefix="trio-lxc-bench-userns-", dir="/tmp")
    try:
        os.chmod(tmp, 0o711)
        for path in SUBID_FILES:
            old = saved[path] or b""
            Path(path).write_bytes(old + (b"" if not old or old.endswith(b"\n") else b"\n")
                                   + f"root:{base}:{RANGE}\n".encode())  # fmt: skip
        ours_path = os.path.join(tmp, "ours")
        os.mkdir(ours_path, 0o711)
        env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
        try:
            results["ours"] = measure("ours", BIN, ours_path, env, runs, unprivileged_conf(base), "benchu1")
        finally:
            shutdown_ours(ours_path, env)
        if (LXC / "lxc-execute").exists():
            lxc_path = os.path.join(tmp, "lxc")
            os.mkdir(lxc_path, 0o711)
            try:
                results["LXC"] = measure(
                    "LXC", LXC, lxc_path, dict(os.environ), runs, unprivileged_conf(base), "benchu1"
                )
            finally:
                subprocess.run([str(LXC / "lxc-stop"), "-P", lxc_path, "-n", "benchu1", "-k"],
                               stderr=subprocess.DEVNULL, check=False)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for path, content in saved.items():
            if content is None:
                Path(path).unlink(missing_ok=True)
            else:
                Path(path).write_bytes(content)
    print_table(f"unprivileged (lxc.idmap), median of {runs} runs (ms)", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
