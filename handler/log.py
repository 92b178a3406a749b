"""One JSON line per event, so CloudWatch Logs Insights can query outcome, reason and key directly."""

from __future__ import annotations

import json
import logging
import os
import sys

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
