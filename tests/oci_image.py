"""An OCI image archive made by hand from the host's busybox-static, for `ctr image import`.

The OCI image layout (oci-layout, index.json, blobs/sha256/...) in a tar: one
uncompressed layer with /bin/busybox and a few applet links, its config and
manifest; the index names the image (`io.containerd.image.name`).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "sleep", "ps", "ls", "true", "false", "id", "hostname", "mount", "grep")


def _add(
    tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o755,
    kind: bytes = tarfile.REGTYPE, link: str = "",
) -> None:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.type, info.linkname = mode, 0, kind, link
    if data is None:
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _layer(busybox: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "dev", "proc", "sys", "etc", "tmp", "root"):
            _add(tar, directory, kind=tarfile.DIRTYPE)
        with open(busybox, "rb") as handle:
            _add(tar, "bin/busybox", handle.read())
        for applet in APPLETS:
            _add(tar, "bin/" + applet, kind=tarfile.SYMTYPE, link="busybox")
        _add(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", mode=0o644)
    return buffer.getvalue()


def build(out: str, name: str, busybox: str = BUSYBOX) -> None:
    """Write the archive of image `name` (e.g. docker.io/library/x:test) to `out`."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer = _layer(busybox)
    layer_digest = blob(layer)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": blob(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}],
    }).encode()  # fmt: skip
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": blob(manifest), "size": len(manifest),
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
        }],
    }).encode()  # fmt: skip
    with tarfile.open(out, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}', mode=0o644)
        _add(tar, "index.json", index, mode=0o644)
        _add(tar, "blobs", kind=tarfile.DIRTYPE)
        _add(tar, "blobs/sha256", kind=tarfile.DIRTYPE)
        for digest, data in blobs.items():
            _add(tar, "blobs/sha256/" + digest.split(":", 1)[1], data, mode=0o644)
