"""Invocation metrics: invocations, errors, cold starts and duration, to the sinks an app adds.

```python
app.add_metrics(EmfMetrics())          # AWS: CloudWatch Embedded Metric Format on stdout
app.add_metrics(OtelMetrics())         # any provider: OpenTelemetry (pip install portafn[otel])
```

An app with no sink pays nothing: the runtime does not even read the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One finished invocation. ``error`` is a raise, or an HTTP answer of 500 or more."""

    app: str
    function: str
    kind: str
    provider: str
    duration_ms: float
    error: bool
    cold_start: bool


class MetricsSink(Protocol):
    """Where invocation records go. ``record`` must be quick and must not raise on bad input;
    the runtime logs and drops a sink's failure rather than failing the invocation."""

    def record(self, invocation: InvocationRecord) -> None:
        """Take one record."""
        ...


class CollectingMetrics:
    """Keeps every record in memory (tests, and ``portafn dev`` diagnostics)."""

    def __init__(self) -> None:
        self.records: list[InvocationRecord] = []

    def record(self, invocation: InvocationRecord) -> None:
        """Keep the record."""
        self.records.append(invocation)
