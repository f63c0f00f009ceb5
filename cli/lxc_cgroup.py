"""`lxc-cgroup`: not built yet (control groups (issue 5)); prints one line saying so and exits 1."""

from cli.common import not_landed

main = not_landed("lxc-cgroup", "control groups (issue 5)")
