"""`lxc-attach`: not built yet (attach (issue 7)); prints one line saying so and exits 1."""

from cli.common import not_landed

main = not_landed("lxc-attach", "attach (issue 7)")
