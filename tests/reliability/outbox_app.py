"""The outbox tests' app: orders written with an order-created message in one transaction.

A separate app from ``apps.app``, with its own tables, so the outbox tests and the idempotency and
publishing tests do not see each other's functions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from portafn import App, Context, Message
from portafn.reliability import Outbox, Outgoing, Publisher, idempotency_table, idempotent
from portafn.store import transaction
from tests.reliability.apps import Applied, Order, effects

outbox_app = App("reliability-outbox")
idempotency_table(outbox_app)
orders = outbox_app.table(Order, partition_key="customer_id", sort_key="order_id")
# tables=: on Cosmos DB the records live in the orders partition each transaction writes.
outbox = Outbox(outbox_app, tables=(orders,))
applied = outbox_app.table(Applied, partition_key="event_id", name="applied")


@outbox_app.http("POST", "/customers/{customer_id}/orders")
def create_order(customer_id: str, body: Order, ctx: Context) -> dict[str, str]:
    """Insert an order and publish order-created in the same transaction (the outbox)."""
    effects.contexts.append(ctx)
    order = body.model_copy(update={"customer_id": customer_id})
    with transaction() as tx:
        tx.insert(orders, order)
        message_id = ctx.publish("order-created", order, key=customer_id, tx=tx)
        if order.total < 0:
            raise ValueError("rolled back")  # leaving the block with an error commits nothing
    return {"id": message_id}


@outbox_app.topic("order-created")
def on_order_created(msg: Message[Order], ctx: Context) -> None:
    """Record what arrived."""
    with effects.lock:
        effects.seen.append(msg)
        effects.contexts.append(ctx)
    effects.hit("on_order_created")


# -- the crash test ----------------------------------------------------------------------------


class JournalEntry(BaseModel):
    """One message a broker accepted: the crash test's durable stand-in for a broker's log."""

    stream: str
    entry: str
    message: dict[str, Any]


journal = outbox_app.table(JournalEntry, partition_key="stream", sort_key="entry", name="journal")


class JournalPublisher(Publisher):
    """Appends every message to the journal table; with ``kill_after`` set, the process kills
    itself right after that many sends, before the relay can delete the outbox record."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.kill_after = kill_after
        self.count = 0

    def publish(self, message: Outgoing) -> None:
        import os
        import signal
        import time
        import uuid

        entry = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        journal.put(JournalEntry(stream="broker", entry=entry, message=message.to_record()))
        self.count += 1
        if self.kill_after is not None and self.count >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


@outbox_app.queue("order-created-once")
@idempotent()
def apply_once(msg: Message[Order]) -> None:
    """The idempotent consumer of the crash test: one applied row per event."""
    assert msg.data is not None
    effects.hit("apply_once")
    applied.put(Applied(event_id=msg.id, order_id=msg.data.order_id))
