"""Invocation metrics as CloudWatch Embedded Metric Format (EMF) lines.

Lambda sends a function's standard output to CloudWatch Logs, which turns each EMF line into
metrics with no API call and no extra latency: ``app.add_metrics(EmfMetrics())``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO

from portafn.metrics import InvocationRecord

_METRICS = [
    {"Name": "Invocations", "Unit": "Count"},
    {"Name": "Errors", "Unit": "Count"},
    {"Name": "ColdStarts", "Unit": "Count"},
    {"Name": "Duration", "Unit": "Milliseconds"},
]


class EmfMetrics:
    """Writes one EMF object a line per invocation, in ``namespace``, by app and function."""

    def __init__(self, namespace: str = "portafn", stream: IO[str] | None = None) -> None:
        self.namespace = namespace
        self.stream = stream

    def line(self, invocation: InvocationRecord) -> str:
        """The EMF JSON line for one invocation."""
        return json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self.namespace,
                            "Dimensions": [["app", "function"]],
                            "Metrics": _METRICS,
                        }
                    ],
                },
                "app": invocation.app,
                "function": invocation.function,
                "trigger": invocation.kind,
                "Invocations": 1,
                "Errors": int(invocation.error),
                "ColdStarts": int(invocation.cold_start),
                "Duration": round(invocation.duration_ms, 3),
            },
            separators=(",", ":"),
        )

    def record(self, invocation: InvocationRecord) -> None:
        """Write the line to the stream (standard output by default)."""
        stream = self.stream or sys.stdout
        stream.write(self.line(invocation) + "\n")
        stream.flush()
