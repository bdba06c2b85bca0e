"""One logging set-up for stages and the CLI."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | None = None) -> logging.Logger:
    level = (level or os.environ.get("HMS_LOG_LEVEL") or "INFO").upper()  # HMS_LOG_LEVEL=debug works too
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    return logging.getLogger("hms")
