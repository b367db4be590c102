"""CloudWatch Embedded Metric Format lines from a Lambda invocation."""

from __future__ import annotations

import io
import json

from portafn_aws import EmfMetrics
from portafn_aws.driver import AwsDriver

from portafn import App
from portafn.http import HttpRequest


def test_emf_lines_follow_the_specification() -> None:
    app = App("emf")

    @app.http("GET", "/hello")
    def hello() -> str:
        return "hi"

    stream = io.StringIO()
    app.add_metrics(EmfMetrics(namespace="shop", stream=stream))
    driver = AwsDriver(app)  # API Gateway v2 events through the real Lambda handler
    assert driver.http(HttpRequest("GET", "/hello")).status == 200
    assert driver.http(HttpRequest("GET", "/hello")).status == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "shop"
    assert isinstance(first["_aws"]["Timestamp"], int)
    # Every dimension and metric the directive names is a top-level member, as EMF requires.
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(first[d], str) for d in dimension_set)
    for metric in directive["Metrics"]:
        assert isinstance(first[metric["Name"]], int | float)
    assert (first["function"], first["Invocations"], first["Errors"], first["ColdStarts"]) == (
        "hello",
        1,
        0,
        1,
    )
    assert lines[1]["ColdStarts"] == 0
