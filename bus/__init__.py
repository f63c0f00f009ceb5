"""The monitor bus: container state events on a Unix socket, usable without the runtime.

- `bus.protocol`: the sans-IO core (messages, JSON-lines encoding, the streaming
  decoder, the client-side name/state filter, LXC's `lxc-monitor` lines). Standard
  library only.
- `bus.jsonlimit`: JSON decoding bounded in nesting, for lines from untrusted peers.
- `bus.server`: the trio server (`BusServer`), with synchronous, never-blocking
  `publish_*` methods for the runtime daemon.
- `bus.client`: the blocking client (`BusClient`) for the commands and scripts;
  standard library only.
- `bus.aclient`: the async client (`open_bus`) for trio programs.

This package imports nothing by itself, so that a client command pays only for the
modules it uses.
"""
