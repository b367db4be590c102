"""``POST /customers/{customer_id}/orders`` as a plain functions-framework HTTP function: a flask
request in, routed by hand (Cloud Functions gives one function every path), pydantic validation,
one JSON log line, and the store stubbed with a dict (portafn runs on ``benchmarks/stub_store.py``)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask
import functions_framework
from pydantic import ValidationError

# functions-framework puts this file's folder on sys.path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.peers.orders_models import ID_RE, DictOrders, NewOrder, Order

orders = DictOrders()
log = logging.getLogger("native.orders")
_ROUTE = re.compile(r"^/customers/([^/]+)/orders$")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> flask.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return flask.Response(text, status=status, mimetype="application/json", headers=headers)


@functions_framework.http
def create_order(request: flask.Request) -> flask.Response:
    """Create an order; 404 off the route, 400 on bad input, 409 if the key is taken."""
    match = _ROUTE.match(request.path)
    if match is None or request.method != "POST":
        return _json(404, {"error": "not found"})
    customer_id = match.group(1)
    if not ID_RE.match(customer_id):
        return _json(400, {"error": "bad customer_id"})
    try:
        new = NewOrder.model_validate_json(request.get_data())
    except ValidationError as exc:
        return _json(
            400, {"errors": exc.errors(include_url=False, include_input=False, include_context=False)}
        )
    now = datetime.now(UTC)
    order = Order(customer_id=customer_id, created_at=now, updated_at=now, **new.model_dump())
    if not orders.insert(order):
        return _json(409, {"error": "order exists"})
    log.info(json.dumps({"message": "order created", "order_id": order.order_id}))
    return _json(
        201, order.model_dump_json(), {"Location": f"/customers/{customer_id}/orders/{order.order_id}"}
    )
