"""The `download` template: LXC's `lxc-download`, after asking whether it can work.

`lxc-download` fetches an image index and tarballs from an image server
(images.linuxcontainers.org unless `--server` names another). Without a network
LXC's script fails with `Failed to download https://...`, or, where DNS or a
firewall drops packets instead of refusing them, waits for as long as its tools do.
Here the server is tried first, within PROBE_TIMEOUT seconds in all: its image
index fetched over HTTPS as the script would, in a child process that is killed at
the deadline (name resolution cannot be interrupted otherwise). If that
fails the create fails at once and says why, and what works offline (`-t local`).
If it works, LXC's own script does the download (runtime.storage.templates.script); without
LXC's script installed, that is said too.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Sequence

from runtime.client.errors import LxcError
from runtime.storage.templates.script import ConfigJob, ScriptTemplate, find_script

DEFAULT_SERVER = "images.linuxcontainers.org"
#: Seconds the reachability check may take, resolution, connection and answer together.
PROBE_TIMEOUT = float(os.environ.get("TRIO_LXC_DOWNLOAD_PROBE_TIMEOUT", "10"))


def server_of(args: Sequence[str]) -> str:
    """`--server HOST` (or `--server=HOST`) among the template's arguments."""
    items = list(args)
    for index, item in enumerate(items):
        if item == "--server" and index + 1 < len(items):
            return items[index + 1]
        if item.startswith("--server="):
            return item.split("=", 1)[1]
    return DEFAULT_SERVER


def index_url(server: str) -> str:
    """The image index LXC's script fetches first (`--server` may carry a port)."""
    return f"https://{server}/meta/1.0/index-system"


def probe(server: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if the server's image index answers over HTTPS within `timeout` s, else
    why not. A TCP connection alone proves nothing: an intercepting proxy takes any."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: fetch, report one line, exit (killed at the deadline)
        os.close(read_end)
        message = b"ok"
        try:
            import urllib.error
            import urllib.request

            with urllib.request.urlopen(index_url(server), timeout=timeout) as answer:  # noqa: S310
                answer.read(1)
        except urllib.error.HTTPError as err:
            message = f"{index_url(server)} answered HTTP {err.code}".encode()
        except urllib.error.URLError as err:
            reason = err.reason.strerror if isinstance(err.reason, OSError) and err.reason.strerror else err.reason
            message = f"{index_url(server)}: {reason}".encode()
        except BaseException as err:  # noqa: BLE001 - anything: said, never raised in a fork
            message = f"{index_url(server)}: {err or type(err).__name__}".encode()
        try:
            os.write(write_end, message[:4000])
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    try:
        ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
        answer = os.read(read_end, 4096).decode(errors="replace") if ready else None
    finally:
        os.close(read_end)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    if answer is None:
        return f"no answer from {index_url(server)} within {timeout:g} s"
    if answer == "ok":
        return None
    return answer or f"{index_url(server)}: no answer"


class DownloadTemplate:
    """Built in as `-t download`: the network check, then LXC's script."""

    writes_config = True

    def run(self, job: ConfigJob) -> None:
        if any(arg in ("-h", "--help") for arg in job.args):
            return self._script().run(job)
        server = server_of(job.args)
        why = probe(server)
        if why is not None:
            raise LxcError(
                f"template 'download' needs the image server {server} and the network does not "
                f"reach it ({why}); offline, use -t local with --metadata and --fstree tarballs"
            )
        self._script().run(job)

    @staticmethod
    def _script() -> ScriptTemplate:
        path = find_script("download")
        if path is None:
            raise LxcError("template 'download': LXC's lxc-download script is not installed (apt-get install lxc)")
        return ScriptTemplate(path)
