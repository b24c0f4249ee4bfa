"""Log set-up for every command: `LOG_LEVEL` and `LOG_FORMAT` (text | json).

JSON lines are for log collectors that should not have to parse free text: each record
is one object with its time, level, logger and message, the exception when there is
one, and whatever structured fields the call passed with `extra=` (the access log's
operation, status, bytes..., web/access.py).

Every line, in either format and from any logger (tornado's included), is written
through `redact.redact_text`, so a credential quoted in a message or a traceback never
reaches the log (see redact.py for what counts as one).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from s3proxy.redact import redact_text

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """Another formatter's output with credentials replaced (redact.py)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(self.inner.format(record))


def formatter(fmt: str) -> logging.Formatter:
    return RedactingFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))


def configure(level: str, fmt: str) -> None:
    """Root logging to stderr at `level` in `fmt`; quiet pgserver chatter. The access
    log (`s3proxy.access`, one line per request) is at INFO for answers below 400."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
