"""Structured logging: one JSON object a line, carrying the invocation's fields, secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[-_]?key|credential|cookie|signature|sig)$", re.I
)
_SECRET_VALUE = re.compile(r"(?i)(AccountKey=|SharedAccessKey=|sig=|Bearer\s+|password=)[^;&\s\"']+")
REDACTED = "[redacted]"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact(value: Any, key: str | None = None) -> Any:
    """Replace anything that looks like a secret: values under secret-sounding keys, and inline keys."""
    if key is not None and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return _SECRET_VALUE.sub(lambda m: m.group(1) + REDACTED, value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, message, logger, and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": redact(record.getMessage()),
            "logger": record.name,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def get_logger(name: str = "portafn") -> logging.Logger:
    """The portafn logger, writing JSON lines to stderr unless the application configured handlers."""
    logger = logging.getLogger(name)
    root = logging.getLogger("portafn")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return logger


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds the invocation's fields (request id, correlation id, ...) to every line."""

    def __init__(self, logger: logging.Logger, fields: dict[str, Any]) -> None:
        super().__init__(logger, fields)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs
