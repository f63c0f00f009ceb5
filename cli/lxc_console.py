"""`lxc-console`: not built yet (consoles (issue 7)); prints one line saying so and exits 1."""

from cli.common import not_landed

main = not_landed("lxc-console", "consoles (issue 7)")
