"""A python3-lxc script, ported by changing its import (`import lxc` before).

    python3 conf-examples/api/python3_lxc_port.py NAME [LXCPATH]
"""

import sys

import runtime.api as lxc

name = sys.argv[1]
config_path = sys.argv[2] if len(sys.argv) > 2 else None

container = lxc.Container(name, config_path)
if container.defined:
    print("Container already exists", file=sys.stderr)
    sys.exit(1)

container.set_config_item("lxc.net.0.type", "empty")
if not container.create("busybox", lxc.LXC_CREATE_QUIET):
    print("Failed to create the container rootfs", file=sys.stderr)
    sys.exit(1)

assert container.name in lxc.list_containers(config_path=config_path)
assert container.get_config_item("lxc.uts.name") == name
capdrop = container.get_config_item("lxc.cap.drop")
container.clear_config_item("lxc.cap.drop")
container.set_config_item("lxc.cap.drop", capdrop[:-1])
container.append_config_item("lxc.cap.drop", capdrop[-1])
container.save_config()
assert container.get_config_item("lxc.cap.drop") == capdrop

if not container.start():
    print("Failed to start the container", file=sys.stderr)
    sys.exit(1)
container.wait("RUNNING", 3)
print("Container state: %s" % container.state)  # noqa: UP031 - as the python3-lxc script has it
print("Container PID: %s" % container.init_pid)  # noqa: UP031

container.attach_wait(lxc.attach_run_command, ["hostname"])

container.freeze()
container.wait("FROZEN", 3)
container.unfreeze()
container.wait("RUNNING", 3)

if not container.shutdown(30):
    print("Failed to cleanly shutdown the container, forcing.")
    if container.running and not container.stop():  # it may have stopped meanwhile
        print("Failed to kill the container", file=sys.stderr)
        sys.exit(1)

clone = container.clone(name + "c")
if not clone:
    print("Failed to clone the container", file=sys.stderr)
    sys.exit(1)
renamed = clone.rename(name + "r")
if not renamed or not renamed.destroy():
    print("Failed to rename and destroy the clone", file=sys.stderr)
    sys.exit(1)

if not container.destroy():
    print("Failed to destroy the container.", file=sys.stderr)
    sys.exit(1)
