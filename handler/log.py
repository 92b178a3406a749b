"""One JSON line per event, so CloudWatch Logs Insights can query outcome, reason and key directly."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TextIO

_logger = logging.getLogger("optimal-image")
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    _logger.propagate = False
_logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


def emit(event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log `event` with `fields`. Never pass object content or credentials here: keys and numbers only."""
    _logger.log(level, json.dumps({"event": event, **fields}, default=str, sort_keys=True))


def use_stream(stream: TextIO) -> None:
    """Write the lines to `stream` instead of stdout (the command line keeps stdout for its records)."""
    for handler in _logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
