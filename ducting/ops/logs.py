"""Logs: plain text for a person at a terminal, or one JSON object per line (`DUCTING_LOG_FORMAT=json`) for a
collector. Every record made while a request is being served carries its request id (`ducting.ops.context` sets
it; worker threads inherit it, since they run in a copy of the request's context)."""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime

import orjson

from ducting.settings import Settings

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "request_id", ...extra fields, "exc"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(settings: Settings) -> None:
    """Route the service's and uvicorn's records through one handler of the configured format. Idempotent."""
    ops = settings.ops
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if ops.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler._ducting = True  # type: ignore[attr-defined]
    names = ["ducting", "billing"] + (
        ["uvicorn", "uvicorn.error", "uvicorn.access"] if ops.log_format == "json" else []
    )
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not getattr(h, "_ducting", False)]
        if name.startswith("uvicorn"):
            logger.handlers = []
            logger.propagate = False
        logger.addHandler(handler)
        if name in ("ducting", "billing"):
            logger.setLevel(ops.log_level.upper())
