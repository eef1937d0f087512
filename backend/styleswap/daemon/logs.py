"""The daemon's log: a rotating file, because a background process has no terminal to print to."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "backend.log"
_MAX_BYTES = 2 * 2**20
_BACKUPS = 3


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send the `styleswap` loggers to `log_dir/backend.log` (rotated at 2 MB, 3 kept); returns the file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_NAME
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(message)s"))
    logger = logging.getLogger("styleswap")
    for old in [h for h in logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(level)
    return path
