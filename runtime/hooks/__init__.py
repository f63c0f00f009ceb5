"""`lxc.hook.*`: the container hooks of lxc.container.conf(5), run where and when LXC runs them.

- `plan`: which hooks a config has, the command line and environment of each (LXC's
  variables, `lxc.hook.version` 0 or 1), the time bound, the failure reasons. Pure,
  standard library only (the container child and the commands import it).
- `blocking`: a fork/exec runner with a deadline, for the container child
  (pre-mount, mount, autodev, start; via `runtime.spawn.hooks_child`) and for
  `lxc-copy` (clone) and `lxc-destroy` (destroy, both in `runtime.hooks.offline`).
- `host`: the trio runner the daemon uses for the host-side hooks (pre-start,
  start-host, stop, post-stop) from a container's supervisor task, and
  `ContainerHooks`, what one start needs (the namespace fds the stop hook names).
"""
