"""runtime.daemon.log_file.RotatingLog: the daemon's log stays bounded although the
handler counts the size itself instead of asking the file system per line."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from runtime.daemon.__main__ import setup_logging


def _logger() -> logging.Logger:
    logger = logging.getLogger(f"test-log-file-{uuid.uuid4().hex}")
    logger.propagate = False
    return logger


def test_a_log_that_exists_is_counted_from_its_size(tmp_path: Path) -> None:
    """A daemon that starts again appends to the old log: its size counts at once."""
    path = tmp_path / "daemon.log"
    path.write_text("x" * 4000 + "\n")
    logger = _logger()
    handler = setup_logging(str(path), "INFO", logger=logger, max_bytes=4096, backups=2)
    try:
        logger.info("%s", "y" * 200)  # 4001 + ~250 > 4096: rotated before this line
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert (tmp_path / "daemon.log.1").read_text() == "x" * 4000 + "\n"
    assert path.read_text().count("y" * 200) == 1
    assert path.stat().st_size < 4096


def test_rotation_keeps_every_file_under_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "daemon.log"
    logger = _logger()
    handler = setup_logging(str(path), "INFO", logger=logger, max_bytes=2048, backups=3)
    try:
        for i in range(500):
            logger.info("line %d %s", i, "é" * 40)  # two bytes per character in the file
    finally:
        logger.removeHandler(handler)
        handler.close()
    sizes = sorted(p.stat().st_size for p in tmp_path.glob("daemon.log*"))
    assert len(sizes) == 4 and max(sizes) <= 2048
    assert "line 499 " in path.read_text(encoding="utf-8")


def test_a_fifo_is_never_rotated(tmp_path: Path) -> None:
    """Like the standard handler (bpo-45401): only a regular file is ever renamed."""
    fifo = tmp_path / "daemon.log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        logger = _logger()
        handler = setup_logging(str(fifo), "INFO", logger=logger, max_bytes=64, backups=1)
        try:
            for i in range(5):
                logger.info("line %d %s", i, "z" * 30)
        finally:
            logger.removeHandler(handler)
            handler.close()
        data = os.read(reader, 65536).decode()
    finally:
        os.close(reader)
    assert data.count("\n") == 5
    assert not (tmp_path / "daemon.log.1").exists()
