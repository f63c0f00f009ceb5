"""Container terminals in the daemon: console and tty ptys, their clients, the console log.

- `terminals`: one container's ptys, the console pump, leases (`ContainerTerminals`).
- `manager`: the daemon's registry and the supervisor's hooks (`ConsoleManager`).
- `server`: the control requests `console`, `console-resize`, `console-log`.
- `buffers`: the ring buffer and the bounded, rotating log file.

This package is the daemon's (it imports trio); the commands use `runtime.kernel.ptys`
and `cli.terminal`.
"""
