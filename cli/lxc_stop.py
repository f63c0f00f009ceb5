"""`lxc-stop`: not built yet (the runtime core (issue 3)); prints one line saying so and exits 1."""

from cli.common import not_landed

main = not_landed("lxc-stop", "the runtime core (issue 3)")
