"""Native requests for the benchmarks, built by the adapters' own drivers so shapes match the tests'."""

from __future__ import annotations

import json
from typing import Any

from portafn.app import App
from portafn.http import HttpRequest, HttpResponse

ROUTE = "/customers/{customer_id}/orders"


def order_request(customer_id: str, order_id: str, total_cents: int = 1250) -> HttpRequest:
    """The neutral ``POST /customers/{customer_id}/orders`` request every contender serves."""
    body = json.dumps({"order_id": order_id, "total_cents": total_cents, "note": "benchmark"})
    return HttpRequest(
        "POST",
        f"/customers/{customer_id}/orders",
        headers={"content-type": "application/json", "user-agent": "portafn-bench"},
        body=body,
    )


def apigw_v2_event(app: App, customer_id: str, order_id: str) -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0) event for the request, made by portafn_aws's driver.

    The route key and path parameters are set as API Gateway sets them for a declared route
    (``portafn package`` declares one per HTTP function), so the native peer reads them as it would.
    """
    from portafn_aws.driver import AwsDriver

    captured: list[dict[str, Any]] = []
    driver = AwsDriver(app)

    def capture(event: dict[str, Any], context: Any) -> dict[str, Any]:
        captured.append(event)
        return {"statusCode": 200, "body": ""}

    driver.handler = capture  # type: ignore[assignment]
    driver.http(order_request(customer_id, order_id))
    event = captured[0]
    event["routeKey"] = f"POST {ROUTE}"
    event["requestContext"]["routeKey"] = f"POST {ROUTE}"
    event["pathParameters"] = {"customer_id": customer_id}
    return event


def check_created(response: HttpResponse | dict[str, Any], who: str) -> None:
    """Fail loudly unless a contender answered 201: a benchmark of errors measures nothing."""
    status = response.status if isinstance(response, HttpResponse) else int(response.get("statusCode", 0))
    if status != 201:
        body = response.body if isinstance(response, HttpResponse) else response.get("body")
        raise RuntimeError(f"{who} answered {status}, not 201: {str(body)[:300]}")
