"""The orders sample's ``POST /customers/{customer_id}/orders``, as a plain Lambda handler.

The same work as portafn's ``create_order``: validate the body with pydantic, build the order,
put it into DynamoDB with a condition that the key is free (409 if taken), log one JSON line and
answer 201 with the order and a Location header. The client is the low-level boto3 client with
the item written out by hand: the cheapest way to make the call, so the hardest peer to beat.
"""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
from pydantic import BaseModel, Field, ValidationError

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ID = re.compile(ID)
TABLE = os.environ.get("ORDERS_TABLE", "native_orders")


class NewOrder(BaseModel):
    """What a client sends."""

    order_id: str = Field(pattern=ID)
    total_cents: int = Field(ge=0, le=100_000_000)
    note: str | None = Field(default=None, max_length=500)


class Order(BaseModel):
    """An order as stored."""

    customer_id: str
    order_id: str
    total_cents: int
    status: Literal["new", "paid", "shipped", "cancelled"] = "new"
    note: str | None = None
    created_at: datetime
    updated_at: datetime


class DynamoOrders:
    """Orders in DynamoDB: one conditional PutItem per insert."""

    def __init__(self) -> None:
        self.client = boto3.client("dynamodb")

    def insert(self, order: Order) -> bool:
        """Store the order; False if its key is taken."""
        item: dict[str, Any] = {
            "customer_id": {"S": order.customer_id},
            "order_id": {"S": order.order_id},
            "total_cents": {"N": str(order.total_cents)},
            "status": {"S": order.status},
            "created_at": {"S": order.created_at.isoformat()},
            "updated_at": {"S": order.updated_at.isoformat()},
        }
        if order.note is not None:
            item["note"] = {"S": order.note}
        try:
            self.client.put_item(
                TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(customer_id)"
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class DictOrders:
    """Orders in a dict: the store call stubbed out, to see the handler's own cost."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def insert(self, order: Order) -> bool:
        """Store the order; False if its key is taken."""
        key = (order.customer_id, order.order_id)
        if key in self.items:
            return False
        self.items[key] = order.model_dump(mode="json")
        return True


orders: DynamoOrders | DictOrders = DynamoOrders()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": body if isinstance(body, str) else json.dumps(body),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) event in, response out."""
    customer_id = (event.get("pathParameters") or {}).get("customer_id", "")
    if not _ID.match(customer_id):
        return _json(400, {"error": "customer_id must be 1-64 letters, digits, '_' or '-'"})
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body
    try:
        new = NewOrder.model_validate_json(raw)
    except ValidationError as exc:
        return _json(
            400, {"errors": exc.errors(include_url=False, include_input=False, include_context=False)}
        )
    now = datetime.now(UTC)
    order = Order(customer_id=customer_id, created_at=now, updated_at=now, **new.model_dump())
    if not orders.insert(order):
        return _json(409, {"error": "order exists"})
    request_id = getattr(context, "aws_request_id", None)
    print(
        json.dumps(
            {
                "level": "INFO",
                "message": "order created",
                "order_id": order.order_id,
                "request_id": request_id,
            }
        )
    )
    location = f"/customers/{customer_id}/orders/{order.order_id}"
    return _json(201, order.model_dump_json(), {"location": location})
