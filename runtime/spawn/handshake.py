"""The setup handshake between the daemon and a container child, both sides.

The child and the daemon talk over a SOCK_SEQPACKET socketpair: one JSON object
per packet, so message boundaries come from the kernel and no framing is needed.
The steps, in order:

  child  -> daemon  {"step": "userns", "pid": A} with lxc.idmap only: the child has
  daemon -> child   {"step": "mapped"}          unshared its user namespace and waits
                                                 for its maps (runtime.userns)
  child  -> daemon  {"step": "pid", "pid": N}   the container init's host pid
                                                 (+ "netns": true with a netns of its own:
  child  -> daemon  {"step": "netns"} + 2 fds    then a netlink socket and the netns fd
                                                 follow, see runtime.net.handles)
  daemon -> child   {"step": "go"}              cgroups (and net devices) are set up
  child  -> daemon  {"step": "start-host"}      only with lxc.hook.start-host: the child is
                                                 set up, the daemon runs those hooks
  daemon -> child   {"step": "exec"}            they succeeded (EOF instead: they failed)
  child  -> daemon  {"step": "trace", "marks": [[by, step, ns], ...]}   only in a traced
                                                 start, just before the exec: the child's
                                                 steps (runtime.kernel.start_trace)
  child  -> daemon  {"step": "error", "message": "..."}   setup failed; the child exits 1
  child  -> daemon  EOF                          started: the payload has been exec'd
                                                 (system) or the app forked (application)

EOF before the pid message means the child died before reporting (the spawner
sees its exit status). EOF instead of `go` makes the child exit 1 silently, so a
daemon that gives up only has to close its end.

The encode/decode pair is sans-IO (bytes in, dict out) for the daemon's trio
socket; `send_msg`/`recv_msg`/`expect` are the blocking adapters the child uses.
Standard library only.
"""

from __future__ import annotations

import json
import socket
from typing import Any

STEP_PID = "pid"
STEP_GO = "go"
STEP_ERROR = "error"
STEP_USERNS = "userns"
STEP_MAPPED = "mapped"
STEP_START_HOST = "start-host"
STEP_EXEC = "exec"

#: The largest message either side sends (an error message is a line of text).
MAX_MESSAGE = 65536


class ProtocolError(Exception):
    """The peer sent something that is not a step message, or not the expected step."""


def encode_msg(msg: dict[str, Any]) -> bytes:
    """One packet for `msg` (must have a "step")."""
    if "step" not in msg:
        raise ValueError(f"a handshake message needs a 'step': {msg!r}")
    return json.dumps(msg, separators=(",", ":")).encode()


def decode_msg(data: bytes) -> dict[str, Any] | None:
    """The message in one packet; None for b"" (the peer closed its end)."""
    if not data:
        return None
    try:
        msg = json.loads(data)
    except ValueError:
        raise ProtocolError(f"not a JSON message: {data[:80]!r}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("step"), str):
        raise ProtocolError(f"not a step message: {data[:80]!r}")
    return msg


def send_msg(sock: socket.socket, msg: dict[str, Any]) -> None:
    """Send one message (blocking)."""
    sock.send(encode_msg(msg))


def recv_msg(sock: socket.socket) -> dict[str, Any] | None:
    """Receive one message (blocking); None on EOF or a reset connection."""
    try:
        data = sock.recv(MAX_MESSAGE)
    except ConnectionResetError:
        return None
    return decode_msg(data)


def expect(sock: socket.socket, step: str) -> dict[str, Any]:
    """Receive the message of `step`; ProtocolError naming the expected step otherwise."""
    msg = recv_msg(sock)
    if msg is None:
        raise ProtocolError(f"expected step {step!r}, got EOF")
    if msg["step"] != step:
        raise ProtocolError(f"expected step {step!r}, got {msg['step']!r}")
    return msg
