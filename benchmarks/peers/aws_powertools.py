"""The same endpoint written with Powertools for AWS Lambda: ``APIGatewayHttpResolver`` with data
validation (pydantic) on, Powertools' ``Logger`` with the Lambda context injected, and the same
conditional PutItem through the low-level boto3 client as ``aws_native``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, Field

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
TABLE = os.environ.get("ORDERS_TABLE", "powertools_orders")

app = APIGatewayHttpResolver(enable_validation=True)
logger = Logger(service="orders")


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


@app.post("/customers/<customer_id>/orders")
def create_order(customer_id: Annotated[str, Path(pattern=ID)], body: NewOrder) -> Response[str]:
    """Create an order; 409 if the key is taken."""
    now = datetime.now(UTC)
    order = Order(customer_id=customer_id, created_at=now, updated_at=now, **body.model_dump())
    if not orders.insert(order):
        return Response(409, content_types.APPLICATION_JSON, '{"error": "order exists"}')
    logger.info("order created", extra={"order_id": order.order_id})
    location = f"/customers/{customer_id}/orders/{order.order_id}"
    return Response(201, content_types.APPLICATION_JSON, order.model_dump_json(), {"location": location})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) event in, response out."""
    return app.resolve(event, context)
