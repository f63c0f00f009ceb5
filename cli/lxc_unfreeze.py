"""`lxc-unfreeze`: not built yet (the freezer (issue 5)); prints one line saying so and exits 1."""

from cli.common import not_landed

main = not_landed("lxc-unfreeze", "the freezer (issue 5)")
