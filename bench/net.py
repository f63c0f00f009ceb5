"""Start latency of a container with a veth on a bridge, ours against LXC 5.

One busybox container per tool with `lxc.net.0.type = veth` on a private bridge made
for the run (10.213.250.1/24; no traffic is sent) and, as the baseline, the same
container with `lxc.net.0.type = empty`. Measured, medians in ms:
- `lxc-execute -n C -- /bin/true` (whole command, wall time);
- a cycle `lxc-start -d` / `lxc-wait -s RUNNING` / `lxc-stop -k`.
Ours runs with the daemon warm; its first veth start (which also imports pyroute2
in the daemon) is shown apart. The "veth cost" columns are veth minus empty. The
bridge is removed at the end, also on failure.

Run: `.venv/bin/python -m runtime.tools.subreaper -- .venv/bin/python bench/net.py [-n RUNS]`
as root.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import shutdown_ours  # bench/ is on sys.path when run as a script

BIN = Path(sys.executable).parent
LXC = Path("/usr/bin")
EMPTY = "lxc.net.0.type = empty\nlxc.net.0.flags = up\n"
VETH = """\
lxc.net.0.type = veth
lxc.net.0.flags = up
lxc.net.0.link = {bridge}
lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx
lxc.net.0.ipv4.address = 10.213.250.2/24
lxc.net.0.ipv4.gateway = auto
"""


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    run(argv, env)
    return (time.perf_counter() - start) * 1000


def cycle(tools: Path, lxcpath: str, name: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    run([str(tools / "lxc-start"), "-P", lxcpath, "-n", name, "-d"], env)
    run([str(tools / "lxc-wait"), "-P", lxcpath, "-n", name, "-s", "RUNNING"], env)
    run([str(tools / "lxc-stop"), "-P", lxcpath, "-n", name, "-k"], env)
    return (time.perf_counter() - start) * 1000


def measure(tools: Path, lxcpath: str, env: dict[str, str], bridge: str, runs: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for kind, config in (("empty", EMPTY), ("veth", VETH.format(bridge=bridge))):
        conf = os.path.join(lxcpath, f"{kind}.conf")
        Path(conf).write_text(config)
        name = f"bnet-{kind}"
        run([str(tools / "lxc-create"), "-P", lxcpath, "-n", name, "-t", "busybox", "-f", conf], env)
        execute = [str(tools / "lxc-execute"), "-P", lxcpath, "-n", name, "--", "/bin/true"]
        results[f"{kind}-first"] = timed(execute, env)
        results[f"{kind}-execute"] = statistics.median(timed(execute, env) for _ in range(runs))
        results[f"{kind}-cycle"] = statistics.median(
            cycle(tools, lxcpath, name, env) for _ in range(runs)
        )
    return results


def make_bridge() -> str:
    from pyroute2 import IPRoute

    name = "bnet" + secrets.token_hex(3)
    with IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        index = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=index, address="10.213.250.1", prefixlen=24)
        ipr.link("set", index=index, state="up")
    return name


def remove_bridge(name: str) -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15)
    runs = parser.parse_args().runs
    results: dict[str, dict[str, float]] = {}
    bridge = make_bridge()
    try:
        with tempfile.TemporaryDirectory(prefix="trio-lxc-bench-net-") as tmp:
            ours_path = os.path.join(tmp, "ours")
            os.mkdir(ours_path)
            env = dict(os.environ, TRIO_LXC_RUNDIR=os.path.join(tmp, "run"))
            try:
                results["ours"] = measure(BIN, ours_path, env, bridge, runs)
            finally:
                shutdown_ours(ours_path, env)
            if (LXC / "lxc-execute").exists():
                lxc_path = os.path.join(tmp, "lxc")
                os.mkdir(lxc_path)
                try:
                    results["LXC"] = measure(LXC, lxc_path, dict(os.environ), bridge, runs)
                finally:
                    for name in ("bnet-empty", "bnet-veth"):
                        subprocess.run([str(LXC / "lxc-stop"), "-P", lxc_path, "-n", name, "-k"],
                                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       check=False)  # fmt: skip
                    shutil.rmtree(lxc_path, ignore_errors=True)
    finally:
        remove_bridge(bridge)
    print(f"median of {runs} runs (ms); a busybox container, veth on a private bridge vs empty")
    header = ("execute veth", "execute empty", "veth cost", "cycle veth", "cycle empty", "veth cost")
    print(f"  {'':6}" + "".join(f"{h:>14}" for h in header) + f"{'first veth':>12}")
    for label, r in results.items():
        row = (
            r["veth-execute"], r["empty-execute"], r["veth-execute"] - r["empty-execute"],
            r["veth-cycle"], r["empty-cycle"], r["veth-cycle"] - r["empty-cycle"],
        )  # fmt: skip
        print(f"  {label:6}" + "".join(f"{v:14.1f}" for v in row) + f"{r['veth-first']:12.1f}")
    if "LXC" in results:
        ours, lxc = results["ours"], results["LXC"]
        print(f"  {'ratio':6}{ours['veth-execute'] / lxc['veth-execute']:13.2f}x"
              f"{'':28}{ours['veth-cycle'] / lxc['veth-cycle']:13.2f}x")  # fmt: skip
    print("ours: first veth = the daemon's first network start (it imports pyroute2 then)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
