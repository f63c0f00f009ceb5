"""runtime.cgroups.mount_watch: discover() parses the mount table again exactly when
it changed, against the real kernel.

Each case runs in a child process that first enters a private mount namespace, so
the named cgroup hierarchy it mounts is never seen by any other process on the
host (another daemon's discover() must not find it). The child prints what it saw
as JSON lines; the parent checks them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespaces)")

CHILD = r"""
import json, os, sys, tempfile
from runtime.cgroups import discover
from runtime.cgroups import mounts
from runtime.kernel import linux

name = sys.argv[1]

def keys():
    return sorted(h.key for h in discover().hierarchies)

def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)

before = keys()
say("host", keys=before, same_object=mounts._OWN_TABLE.get() is mounts._OWN_TABLE.get())
linux.unshare(linux.CLONE_NEWNS)
linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
say("new namespace", keys=keys())
target = tempfile.mkdtemp(prefix="tlxc-mw-")
try:
    linux.mount("cgroup", target, "cgroup", 0, "none,name=" + name)
    try:
        say("mounted", keys=keys(), again=keys())
    finally:
        linux.umount2(target)
    say("unmounted", keys=keys())
    pid = os.fork()
    if pid == 0:  # a forked child must not trust (nor consume) its parent's watch
        try:
            linux.mount("cgroup", target, "cgroup", 0, "none,name=" + name)
            say("forked child mounted", keys=keys())
        finally:
            os._exit(0)  # the mount stays: the namespace is the parent's too
    os.waitpid(pid, 0)
    try:
        say("parent after the child", keys=keys())
    finally:
        linux.umount2(target)
    say("parent unmounted", keys=keys())
finally:
    os.rmdir(target)
"""


@needs_root
def test_discover_follows_mounts_and_namespaces() -> None:
    name = f"tlxcmw{uuid.uuid4().hex[:8]}"
    mine = f"name={name}"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    steps = {line["step"]: line for line in map(json.loads, out.stdout.splitlines())}
    host = steps["host"]["keys"]
    assert steps["host"]["same_object"]  # unchanged table: the parse is reused
    assert mine not in host
    assert steps["new namespace"]["keys"] == host  # another namespace: read again, same mounts
    assert mine in steps["mounted"]["keys"]  # the kernel's POLLPRI: seen at once
    assert steps["mounted"]["again"] == steps["mounted"]["keys"]
    assert mine not in steps["unmounted"]["keys"]
    assert mine in steps["forked child mounted"]["keys"]
    # The child's mount is in the namespace it shares with the parent: the parent
    # sees it, although the child looked (and would have consumed a shared poll).
    assert mine in steps["parent after the child"]["keys"]
    assert mine not in steps["parent unmounted"]["keys"]
