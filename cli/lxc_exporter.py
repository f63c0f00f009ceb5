"""`lxc-exporter [-P PATH] [--listen ADDR:PORT]`: Prometheus metrics of an lxcpath's containers.

Beyond LXC (which has no exporter). Serves the Prometheus text format over HTTP at
`http://ADDR:PORT/metrics`, by default on 127.0.0.1:9734 (loopback only: the
figures say what runs on the host; listen elsewhere on purpose, `--listen
0.0.0.0:9734`, behind a firewall). `ADDR` may be an IPv6 address in brackets
(`[::1]:9734`); port 0 picks a free port, printed on stdout at start
(`listening on http://127.0.0.1:PORT/metrics`), which tests use.

It follows the lxcpath's monitor bus (starting the daemon if none runs, as
lxc-monitor does) for each container's state and exits, and reads the cgroup
files on every scrape; the metrics and their meaning are listed in
runtime.tools.exporter. It runs until interrupted (SIGINT/SIGTERM: exit 0).
"""

from __future__ import annotations

import sys

from cli.common import LxcArgumentParser, lxcpath_of, run_command
from cli.log import CommandLog
from cli.options import Namespace
from runtime.client.errors import LxcError

OPTIONS = """\
      --listen=ADDR:PORT  address and port to serve /metrics on
                          (default 127.0.0.1:9734)
"""


def build_parser() -> LxcArgumentParser:
    parser = LxcArgumentParser(
        "lxc-exporter",
        "lxc-exporter [-P lxcpath] [--listen ADDR:PORT]",
        "serves Prometheus metrics of the containers of an lxcpath",
        OPTIONS,
    )
    parser.add_argument("--listen")
    return parser


def parse_listen(text: str | None) -> tuple[str, int]:
    """`ADDR:PORT`, `[V6]:PORT` or `:PORT` -> (host, port); LxcError if malformed."""
    from runtime.tools.exporter import DEFAULT_HOST, DEFAULT_PORT

    if text is None:
        return DEFAULT_HOST, DEFAULT_PORT
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not port.isdigit() or int(port) > 65535 or ":" in host and not text.startswith("["):
        raise LxcError(f"invalid --listen '{text}': ADDR:PORT, [IPV6]:PORT or :PORT")
    return host or DEFAULT_HOST, int(port)


def body(args: Namespace, log: CommandLog) -> int:
    import os

    import trio

    from cli.lxc_monitor import bus_socket
    from runtime.tools.exporter import Exporter

    host, port = parse_listen(args.listen)
    lxcpath = os.path.abspath(lxcpath_of(args))
    exporter = Exporter(lxcpath, lambda: bus_socket(lxcpath))

    async def main() -> None:
        try:
            listeners = await trio.open_tcp_listeners(port, host=host)
        except OSError as err:
            raise LxcError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
        async with trio.open_nursery() as nursery:
            await nursery.start(exporter.serve, listeners)
            sockname = listeners[0].socket.getsockname()
            shown = f"[{sockname[0]}]" if ":" in sockname[0] else sockname[0]
            sys.stdout.write(f"listening on http://{shown}:{sockname[1]}/metrics\n")
            sys.stdout.flush()
            with trio.open_signal_receiver(2, 15) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    try:
        trio.run(main)
    except* LxcError as group:
        raise group.exceptions[0] from None
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), body, argv)
