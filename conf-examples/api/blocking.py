"""A script with the blocking API: create, start, run a command, look, stop, clone, destroy.

    python3 conf-examples/api/blocking.py NAME [LXCPATH]
"""

import sys

from runtime.api import Container, list_containers

name = sys.argv[1]
lxcpath = sys.argv[2] if len(sys.argv) > 2 else None  # None: the commands' default

c = Container(name, lxcpath)
c.set_config_item("lxc.net.0.type", "empty")
c.create("busybox")
c.start()
c.wait("RUNNING", timeout=10)

status, out = c.attach_run(["uname", "-n"])
print(f"{c.name} ({c.state}, init pid {c.init_pid}) says it is {out.decode().strip()}")
print("exit status of false:", c.attach_wait(["false"]))

c.set_cgroup_item("pids.max", "200")
print("pids.max:", c.get_cgroup_item("pids.max"))

c.freeze()
print("after freeze:", c.state)
c.unfreeze()
c.stop()

copy = c.clone(name + "-copy")
assert copy, "the clone failed"
print("copies:", [n for n in list_containers(lxcpath=lxcpath) if n.startswith(name)])
copy.destroy()
c.destroy()
print("defined after destroy:", c.defined)
