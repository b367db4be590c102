"""Invocation metrics as OpenTelemetry instruments (``pip install portafn[otel]``).

Counters ``portafn.invocations``, ``portafn.errors``, ``portafn.cold_starts`` and the histogram
``portafn.duration`` (milliseconds), each with ``faas.name``, ``faas.trigger`` and
``cloud.provider`` attributes, on the meter provider given or the global one. The exporter is the
application's choice (OTLP, Prometheus, a cloud's own), configured on that provider.
"""

from __future__ import annotations

from typing import Any

from portafn.metrics import InvocationRecord


class OtelMetrics:
    """A metrics sink writing to OpenTelemetry instruments."""

    def __init__(self, meter_provider: Any = None, *, meter_name: str = "portafn") -> None:
        try:
            from opentelemetry import metrics
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                "OtelMetrics needs opentelemetry-api: pip install portafn[otel]"
            ) from None
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(meter_name)
        self._invocations = meter.create_counter("portafn.invocations", unit="1", description="invocations")
        self._errors = meter.create_counter("portafn.errors", unit="1", description="failed invocations")
        self._cold = meter.create_counter("portafn.cold_starts", unit="1", description="cold starts")
        self._duration = meter.create_histogram(
            "portafn.duration", unit="ms", description="invocation duration"
        )

    def record(self, invocation: InvocationRecord) -> None:
        """Add the record to the instruments."""
        attributes = {
            "faas.name": invocation.function,
            "faas.trigger": invocation.kind,
            "cloud.provider": invocation.provider,
            "service.name": invocation.app,
        }
        self._invocations.add(1, attributes)
        if invocation.error:
            self._errors.add(1, attributes)
        if invocation.cold_start:
            self._cold.add(1, attributes)
        self._duration.record(invocation.duration_ms, attributes)
