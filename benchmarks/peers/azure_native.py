"""``POST /customers/{customer_id}/orders`` as a plain Azure Functions (Python v2 model) function:
``func.HttpRequest`` in, ``func.HttpResponse`` out, pydantic validation, one JSON log line, and the
store stubbed with a dict (as portafn runs on ``benchmarks/stub_store.py`` in the same measurement)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import azure.functions as func
from pydantic import ValidationError

from benchmarks.peers.orders_models import ID_RE, DictOrders, NewOrder, Order

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
orders = DictOrders()
log = logging.getLogger("native.orders")


@app.route(route="customers/{customer_id}/orders", methods=["POST"])
def create_order(req: func.HttpRequest) -> func.HttpResponse:
    """Create an order; 400 on bad input, 409 if the key is taken."""
    customer_id = req.route_params.get("customer_id", "")
    if not ID_RE.match(customer_id):
        return func.HttpResponse('{"error": "bad customer_id"}', status_code=400, mimetype="application/json")
    try:
        new = NewOrder.model_validate_json(req.get_body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        return func.HttpResponse(json.dumps({"errors": errors}), status_code=400, mimetype="application/json")
    now = datetime.now(UTC)
    order = Order(customer_id=customer_id, created_at=now, updated_at=now, **new.model_dump())
    if not orders.insert(order):
        return func.HttpResponse('{"error": "order exists"}', status_code=409, mimetype="application/json")
    log.info(json.dumps({"message": "order created", "order_id": order.order_id}))
    return func.HttpResponse(
        order.model_dump_json(),
        status_code=201,
        mimetype="application/json",
        headers={"Location": f"/customers/{customer_id}/orders/{order.order_id}"},
    )
