"""`lxc-monitor`: not built yet (the monitor bus (issue 4)); prints one line saying so and exits 1."""

from cli.common import not_landed

main = not_landed("lxc-monitor", "the monitor bus (issue 4)")
