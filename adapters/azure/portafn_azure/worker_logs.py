"""portafn's log lines as the Azure Functions worker's invocation-bound logs.

portafn logs through the ``portafn`` logger (``propagate=False``, JSON lines to stderr). Under the
Python worker, stderr reaches the host only as console output, with no invocation id, so
Application Insights cannot say which invocation wrote a line. The worker binds a record to the
running invocation in its own handler on the root logger (it reads the invocation id the worker
set for the thread or task that logs), and sends it as an ``RpcLog`` with that id. So, under the
worker, the stderr handler portafn installed is replaced by one that formats the record as the
same JSON line (portafn's formatter, redaction included) and hands it to the root logger's
handlers. Elsewhere (tests, ``portafn serve``) nothing changes.
"""

from __future__ import annotations

import logging
import sys


class WorkerLogHandler(logging.Handler):
    """Formats a portafn record with portafn's formatter and re-emits it on the root logger."""

    def emit(self, record: logging.LogRecord) -> None:
        """Hand the formatted line to the root logger's handlers (the worker's among them)."""
        try:
            line = self.format(record)
            # The line already carries the message, the extras and the redacted exception.
            forwarded = logging.makeLogRecord(
                {**record.__dict__, "msg": line, "args": None, "exc_info": None, "exc_text": None}
            )
            logging.getLogger().handle(forwarded)
        except Exception:
            self.handleError(record)


def under_worker() -> bool:
    """True inside the Azure Functions Python worker (it imported its package before the app)."""
    return "azure_functions_worker" in sys.modules or "azure_functions_runtime" in sys.modules


def forward_to_worker(logger: logging.Logger | None = None) -> bool:
    """Under the worker, replace the ``portafn`` logger's stderr handler with a
    ``WorkerLogHandler`` using the same formatter; True when forwarding is on. Idempotent."""
    target = logger or logging.getLogger("portafn")
    if not under_worker():
        return False
    if any(isinstance(h, WorkerLogHandler) for h in target.handlers):
        return True
    for handler in list(target.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
            target.removeHandler(handler)
            forward = WorkerLogHandler(handler.level)
            forward.setFormatter(handler.formatter)
            target.addHandler(forward)
            return True
    return False
