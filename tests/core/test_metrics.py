"""Invocation metrics: what the runtime records, and the OpenTelemetry sink on the real SDK."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from portafn import App, Message, Runtime
from portafn.factories import make_message
from portafn.http import HttpRequest
from portafn.metrics import CollectingMetrics, InvocationRecord
from portafn.otel import OtelMetrics


def make_app() -> App:
    app = App("metered")

    @app.http("GET", "/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.http("GET", "/boom")
    def boom() -> None:
        raise RuntimeError("no")

    @app.queue("jobs")
    def job(msg: Message[dict[str, int]]) -> None:
        if msg.data and msg.data.get("fail"):
            raise ValueError("failed job")

    return app


def test_each_invocation_is_recorded_with_error_and_cold_start() -> None:
    app = make_app()
    sink = CollectingMetrics()
    app.add_metrics(sink)
    runtime = Runtime(app, "aws")
    assert runtime.handle_http(HttpRequest("GET", "/ok")).status == 200
    assert runtime.handle_http(HttpRequest("GET", "/boom")).status == 500
    runtime.handle_event("job", make_message({"fail": 0}, queue="jobs"))
    with pytest.raises(ValueError, match="failed job"):
        runtime.handle_event("job", make_message({"fail": 1}, queue="jobs"))
    got = [(r.function, r.kind, r.provider, r.error, r.cold_start) for r in sink.records]
    assert got == [
        ("ok", "http", "aws", False, True),
        ("boom", "http", "aws", True, False),
        ("job", "queue", "aws", False, False),
        ("job", "queue", "aws", True, False),
    ]
    assert all(r.duration_ms >= 0 and r.app == "metered" for r in sink.records)


def test_unrouted_requests_are_not_invocations() -> None:
    app = make_app()
    sink = CollectingMetrics()
    app.add_metrics(sink)
    assert Runtime(app).handle_http(HttpRequest("GET", "/nowhere")).status == 404
    assert sink.records == []


def test_a_failing_sink_never_fails_the_invocation() -> None:
    class Broken:
        def record(self, invocation: InvocationRecord) -> None:
            raise OSError("disk full")

    app = make_app()
    app.add_metrics(Broken())
    after = CollectingMetrics()
    app.add_metrics(after)
    assert Runtime(app).handle_http(HttpRequest("GET", "/ok")).status == 200
    assert len(after.records) == 1


def test_otel_sink_feeds_real_instruments() -> None:
    reader = InMemoryMetricReader()
    app = make_app()
    app.add_metrics(OtelMetrics(MeterProvider(metric_readers=[reader])))
    runtime = Runtime(app, "gcp")
    for path in ("/ok", "/ok", "/boom"):
        runtime.handle_http(HttpRequest("GET", path))
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[tuple[str, str], float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count  # histogram: number of recorded durations
                    points[(metric.name, str(point.attributes["faas.name"]))] = value
                    assert point.attributes["cloud.provider"] == "gcp"
    assert points[("portafn.invocations", "ok")] == 2
    assert points[("portafn.invocations", "boom")] == 1
    assert points[("portafn.errors", "boom")] == 1
    assert ("portafn.errors", "ok") not in points
    assert points[("portafn.cold_starts", "ok")] == 1
    assert points[("portafn.duration", "ok")] == 2
