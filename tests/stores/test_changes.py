"""Local change delivery: ``@app.changes`` functions run on a table's changes, in order."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from portafn import App, Change, Context, Runtime
from portafn.changes import pending_changes
from portafn.store.port import Store
from portafn.testing import LocalClient


class Order(BaseModel):
    customer_id: str
    order_id: str
    total_cents: int = 0


def make_app() -> tuple[App, list[Change[Order]], list[str]]:
    app = App("shop")
    orders = app.table(Order, partition_key="customer_id", sort_key="order_id")
    seen: list[Change[Order]] = []
    ids: list[str] = []

    @app.changes(orders)
    def on_change(change: Change[Order], ctx: Context) -> None:
        seen.append(change)

    @app.changes(orders, name="second")
    def second(change: Change[Order]) -> None:
        ids.append(change.id)

    return app, seen, ids


def test_changes_reach_every_change_function_in_order(store: Store) -> None:
    app, seen, ids = make_app()
    orders = app.tables["orders"]
    client = LocalClient(app)
    orders.insert(Order(customer_id="c1", order_id="o1", total_cents=5))
    orders.put(Order(customer_id="c1", order_id="o1", total_cents=7))
    orders.delete("c1", "o1")
    deliveries = client.deliver_changes()
    assert deliveries.ok
    assert len(deliveries) == 6  # three changes, two functions each
    assert [c.kind for c in seen] == ["insert", "modify", "remove"]
    assert [c.type for c in seen] == [
        "portafn.change.insert",
        "portafn.change.modify",
        "portafn.change.remove",
    ]
    first = seen[0]
    assert first.source == f"portafn://{store.name}/orders"
    assert first.table == "orders"
    assert first.key == {"customer_id": "c1", "order_id": "o1"}
    assert first.subject == "c1/o1"
    assert first.new == Order(customer_id="c1", order_id="o1", total_cents=5)  # typed by the binder
    assert seen[1].old == first.new
    assert seen[2].new is None
    assert ids == [c.id for c in seen]
    assert len(set(ids)) == 3
    assert list(pending_changes(orders, ids[-1])) == []  # the last id is the cursor past them all
    assert client.deliver_changes() == []  # nothing new
    assert len(seen) == 3


def test_a_failing_handler_keeps_the_change_for_redelivery(store: Store) -> None:
    app = App("shop")
    orders = app.table(Order, partition_key="customer_id", sort_key="order_id")
    calls: list[str] = []

    @app.changes(orders)
    def flaky(change: Change[Order]) -> None:
        calls.append(change.id)
        if len(calls) == 1:
            raise RuntimeError("boom")

    runtime = Runtime(app)
    orders.insert(Order(customer_id="c", order_id="o"))
    (function,) = app.change_functions(orders)

    def deliver(cursor: str | None) -> str | None:
        # The cursor moves past a change only once its function ran: at least once.
        for event, after in pending_changes(orders, cursor):
            if event is not None:
                runtime.handle_event(function, event)
            cursor = after
        return cursor

    with pytest.raises(RuntimeError):
        deliver(None)
    cursor = deliver(None)
    assert calls == [calls[0], calls[0]]
    assert cursor == calls[0]
    assert deliver(cursor) == cursor  # nothing new


def test_a_client_starts_at_the_tail(store: Store) -> None:
    app, seen, _ = make_app()
    orders = app.tables["orders"]
    orders.insert(Order(customer_id="old", order_id="o"))  # history before the client started
    client = LocalClient(app)
    orders.insert(Order(customer_id="new", order_id="o"))
    assert len(client.deliver_changes()) == 2  # one change, two functions
    assert [c.key["customer_id"] for c in seen] == ["new"]
    assert client.deliver_changes() == []
