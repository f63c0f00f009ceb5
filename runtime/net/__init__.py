"""Container networking: `lxc.net.N.*` devices made with pyroute2.

Types: `veth` (host side `lxc.net.N.veth.pair` or `vethXXXXXX`, on the bridge
`link`, or routed with `veth.mode = router`), `macvlan` (`macvlan.mode` on `link`),
`ipvlan`, `vlan` (`vlan.id` on `link`), `phys` (a host device moved in and given
back at stop), `empty` (only `lo`, which the container child brings up) and `none`
(the host's namespace: the child does not unshare it). In the container: `name`
(default: the next free `ethN`; a phys device keeps its own), `hwaddr` (LXC's `xx`
templates), `mtu`, `flags = up`, `ipv4.address` (with broadcast, computed right when
not given), `ipv4.gateway` (address, `auto` = the link's first address, `dev`),
`ipv6.*` likewise; on the host `veth.ipvX.route`, router-mode routes and proxy
entries, `l2proxy`, and `script.up`/`script.down`.

The design, and why:

1. Who does the work. The daemon does all of it, with pyroute2, during STARTING:
   between the init's "pid" message and "go" in the supervisor's handshake, while
   the container's init waits. Not the container child: it would have to carry
   pyroute2 (a 200 ms import in the spawner, then a second asyncio world in every
   forked child), report errors from inside a half-built container, and could not
   give devices back at stop. With one place doing it, an error names its key and
   aborts the start before anything runs in the container, and the same code undoes
   it at STOPPED, after ABORTING and after a daemon restart.

2. How the daemon reaches inside without entering. The container child opens a
   NETLINK_ROUTE socket and `/proc/self/ns/net` inside its fresh namespace and passes
   both over the set-up socket with SCM_RIGHTS (`runtime.net.handles`). A netlink
   socket keeps the namespace it was born in, so `IPRoute(fileno=...)` configures the
   container's devices from the daemon: no `setns` in the trio process (it would move
   whichever thread runs it), no pyroute2 `netns=` (it forks the caller), no helper
   process on the start path. The namespace fd is the target for making and moving
   devices (IFLA_NET_NS_FD: a new veth peer, macvlan or vlan is born inside, under
   its final name; a phys device is moved and renamed in one request) and it keeps
   the namespace alive after the container's last process exits, so a veth moved in
   as `phys` can still be given back (the kernel destroys virtual devices with their
   namespace and returns only real NICs, under their inside names).

3. Not blocking trio. pyroute2 0.9's blocking API runs its own asyncio loop inside
   each call, per thread. Each batch (make everything; remove everything) runs in a
   worker thread with its own `IPRoute`s, opened and closed there.

4. Surviving a daemon restart. The host-side names, moved devices (original name,
   ifindex, MTU, MAC) and proxy entries are the `net` list of the runtime record. A
   dead container's leftovers are cleaned up from it (`network.cleanup_dead_record`);
   a live one gets its namespace held again (`ContainerNetwork.from_record`) and, at
   its stop, a netlink socket inside it from a short helper process
   (`runtime.net.nsopen`) to give phys devices back.

Modules: `types` (one module per `lxc.net.N.type` declaring its keys, checks,
host-side create/remove and container-side set-up, and their registry; stdlib),
`plan` (names, MACs, checks; stdlib), `handles` (the fd passing; stdlib,
imported by the container child), `host` (pyroute2), `scripts` (script.up/down),
`network` (the trio side the supervisor calls), `info` (addresses and link
statistics for `lxc-info`/`lxc-ls`: stdlib, a small netlink dump, no pyroute2),
`nsopen` (the restart helper). This package's `__init__` imports nothing: the
container child and the clients import parts of it.
"""
