"""Helper process: pass back a NETLINK_ROUTE socket made inside a network namespace.

`python -m runtime.net.nsopen SOCK_FD NS_FD`: enter the network namespace NS_FD,
open a netlink socket there and send it over the Unix socket SOCK_FD. The daemon
runs it only after a restart, to give physical devices back from a re-adopted
container's namespace: the trio process itself never calls setns (it would move
whichever thread runs it) and never forks to run Python. Standard library only.
"""

from __future__ import annotations

import socket
import sys

from runtime.kernel import linux
from runtime.net.handles import NETLINK_ROUTE


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m runtime.net.nsopen SOCK_FD NS_FD\n")
        return 2
    sock = socket.socket(fileno=int(args[0]))
    linux.setns(int(args[1]), linux.CLONE_NEWNET)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
    socket.send_fds(sock, [b"netns"], [nl.fileno()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
