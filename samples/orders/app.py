"""An orders service written once, run on every provider and store.

Business code imports portafn only: the provider is chosen by the entry module
(``entry_aws``, ``entry_azure``, ``entry_gcp``) and the store by ``PORTAFN_STORE``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from portafn import App, Change, Context, HttpError, HttpResponse, Message, Schedule

app = App("orders")

Status = Literal["new", "paid", "shipped", "cancelled"]
ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ID = re.compile(ID)


class NewOrder(BaseModel):
    """What a client sends to create an order."""

    order_id: str = Field(pattern=ID)
    total_cents: int = Field(ge=0, le=100_000_000)
    note: str | None = Field(default=None, max_length=500)


class Order(BaseModel):
    """An order as stored."""

    customer_id: str
    order_id: str
    total_cents: int
    status: Status = "new"
    note: str | None = None
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    """One page of a customer's orders; pass ``cursor`` back to get the next."""

    items: list[Order]
    cursor: str | None


class OrderEvent(BaseModel):
    """A status change reported by another service (payments, shipping)."""

    customer_id: str = Field(pattern=ID)
    order_id: str = Field(pattern=ID)
    status: Status


class NightlyRun(BaseModel):
    """A record of one run of the nightly job."""

    job: str
    day: str
    ran_at: datetime
    scheduled_for: datetime


class OrderActivity(BaseModel):
    """What the change feed saw happen to an order; ``sequence`` is the change source's own id."""

    order_key: str
    sequence: str
    kind: str
    status: str | None


orders = app.table(Order, partition_key="customer_id", sort_key="order_id")
runs = app.table(NightlyRun, partition_key="job", sort_key="day", name="nightly_runs")
activity = app.table(OrderActivity, partition_key="order_key", sort_key="sequence", name="order_activity")


@app.http("POST", "/customers/{customer_id}/orders")
def create_order(customer_id: str, body: NewOrder, ctx: Context) -> HttpResponse:
    """Create an order; 409 if the customer already has one with that id."""
    if not _valid_id(customer_id):
        raise HttpError(400, "customer_id must be 1-64 letters, digits, '_' or '-'")
    now = datetime.now(UTC)
    order = Order(customer_id=customer_id, created_at=now, updated_at=now, **body.model_dump())
    orders.insert(order)  # AlreadyExists becomes 409
    ctx.logger.info("order created", extra={"order_id": order.order_id})
    location = f"/customers/{customer_id}/orders/{order.order_id}"
    return HttpResponse(order, status=201, headers={"Location": location})


@app.http("GET", "/customers/{customer_id}/orders/{order_id}")
def get_order(customer_id: str, order_id: str) -> Order:
    """One order, or 404."""
    order = orders.get(customer_id, order_id) if _valid_id(customer_id) and _valid_id(order_id) else None
    if order is None:
        raise HttpError(404, "No such order.")
    return order


@app.http("GET", "/customers/{customer_id}/orders")
def list_orders(
    customer_id: str, limit: int = 20, cursor: str | None = None, status: Status | None = None
) -> OrderPage:
    """A customer's orders by id, a page at a time."""
    if not _valid_id(customer_id):
        raise HttpError(400, "customer_id must be 1-64 letters, digits, '_' or '-'")
    if not 1 <= limit <= 100:
        raise HttpError(400, "limit must be between 1 and 100")
    page = orders.query(customer_id, limit=limit, cursor=cursor)
    items = [o for o in page.items if status is None or o.status == status]
    return OrderPage(items=items, cursor=page.cursor)


@app.queue("order-events")
def on_order_event(msg: Message[OrderEvent], ctx: Context) -> None:
    """Apply a status change from another service; a message for an unknown order is retried."""
    event = msg.data
    assert event is not None

    def apply(order: Order) -> Order:
        return order.model_copy(update={"status": event.status, "updated_at": datetime.now(UTC)})

    orders.update(event.customer_id, event.order_id, apply)  # NotFound raises: the message is retried
    ctx.logger.info("order status changed", extra={"order_id": event.order_id, "status": event.status})


@app.schedule("0 2 * * *")
def nightly(ev: Schedule, ctx: Context) -> None:
    """Record that the nightly job ran (real work would reconcile payments here)."""
    now = datetime.now(UTC)
    runs.put(
        NightlyRun(job="nightly", day=now.date().isoformat(), ran_at=now, scheduled_for=ev.scheduled_time)
    )
    ctx.logger.info("nightly run recorded")


@app.changes(orders)
def on_order_change(change: Change[Order], ctx: Context) -> None:
    """Keep an activity trail of every order change, fed by the store's change source."""
    current = change.new or change.old
    key = f"{change.key.get('customer_id')}:{change.key.get('order_id')}"
    activity.put(
        OrderActivity(
            order_key=key,
            sequence=change.id,
            kind=change.kind,
            status=current.status if current else None,
        )
    )


def _valid_id(value: str) -> bool:
    return _ID.match(value) is not None
