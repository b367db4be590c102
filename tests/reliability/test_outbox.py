"""The transactional outbox on every selected store: staged in the transaction, relayed after it
commits by the change source or the sweep, at least once, in order per key, ids carried along."""

from __future__ import annotations

from typing import Any

import pytest

from portafn import App, Runtime
from portafn.reliability import LocalBus, Outbox, Outgoing, Publisher, PublishError, Relay
from portafn.store.capabilities import Capability
from portafn.store.registry import current_store
from portafn.testing import Client
from portafn.testing.drivers import LocalDriver
from portafn.triggers import ChangesTrigger
from tests.reliability.apps import Order, effects
from tests.reliability.outbox_app import orders, outbox, outbox_app


@pytest.fixture
def portafn_app(outbox_portafn_app: App) -> App:
    """This module's tests drive the outbox app."""
    return outbox_portafn_app


def order_of(message: Outgoing) -> str:
    """The order id a relayed order-created message carries."""
    data = message.event.data
    assert isinstance(data, dict)
    return str(data["order_id"])


def bus_of(client: Client) -> LocalBus:
    if not isinstance(client.driver, LocalDriver):
        pytest.skip(f"inspects the local bus; the {client.provider} driver publishes to its own broker")
    bus = client.driver.runtime.publisher
    assert isinstance(bus, LocalBus)
    return bus


def relay_by_change_source(client: Client) -> None:
    """Deliver the pending changes, which runs the outbox's relay. Where the provider's change
    source cannot carry records attached to a partition (Lambda's or Cloud Functions' with Cosmos
    DB), check that the delivery fails saying so, then relay as the sweep does there."""
    deliveries = client.deliver_changes()
    if client.provider in ("aws", "gcp") and current_store().capabilities.has(Capability.ATTACHED_DOCUMENTS):
        assert not deliveries.ok
        assert all("Unsupported" in str(e) for e in deliveries.errors), deliveries.errors
        assert client.fire("portafn_outbox_sweep").ok
    else:
        assert deliveries.ok, deliveries.errors


def order(client: Client, customer: str, order_id: str, total: int = 1, **kw: Any) -> str:
    resp = client.post(
        f"/customers/{customer}/orders",
        json={"customer_id": customer, "order_id": order_id, "total": total},
        **kw,
    )
    assert resp.status == 200, resp.text()
    return str(resp.json()["id"])


class Flaky(Publisher):
    """A broker that refuses the sends whose numbers are in ``refuse`` (1-based), then accepts."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        self.calls = 0
        self.refuse = refuse or set()
        self.sent: list[Outgoing] = []

    def publish(self, message: Outgoing) -> None:
        self.calls += 1
        if self.calls in self.refuse:
            raise ConnectionError("broker unavailable")
        self.sent.append(message)


def test_publish_in_a_transaction_waits_for_the_relay(portafn_client: Client) -> None:
    message_id = order(portafn_client, "c-1", "o-1", headers={"X-Correlation-Id": "corr-7"})
    assert orders.get("c-1", "o-1") is not None
    assert bus_of(portafn_client).published == []  # nothing leaves before the relay runs
    [pending] = list(outbox.pending())
    assert pending.outgoing().id == message_id

    deliveries = portafn_client.deliver_changes()  # the change source calls portafn_outbox_relay
    assert deliveries.ok, deliveries.errors
    [msg] = effects.seen
    assert msg.id == message_id
    assert msg.data is not None
    assert msg.data.order_id == "o-1"
    assert msg.ordering_key == "c-1"
    # The ids are those of the invocation that published, not of the relay that sent.
    publisher_ctx = effects.contexts[0]
    assert msg.extensions["correlationid"] == "corr-7"
    assert msg.extensions["causationid"] == publisher_ctx.request_id
    assert list(outbox.pending()) == []


def test_a_rolled_back_transaction_publishes_nothing(portafn_client: Client) -> None:
    resp = portafn_client.post(
        "/customers/c-2/orders", json={"customer_id": "c-2", "order_id": "o-1", "total": -1}
    )
    assert resp.status == 500
    assert orders.get("c-2", "o-1") is None
    assert list(outbox.pending()) == []
    assert portafn_client.deliver_changes().ok
    assert bus_of(portafn_client).published == []


def test_a_failed_business_write_publishes_nothing(portafn_client: Client) -> None:
    order(portafn_client, "c-3", "o-1")
    clash = portafn_client.post(
        "/customers/c-3/orders", json={"customer_id": "c-3", "order_id": "o-1", "total": 1}
    )
    assert clash.status == 409  # the insert's condition failed: the whole transaction is cancelled
    assert len(list(outbox.pending())) == 1


def test_relay_sends_at_least_once_and_the_change_redelivered_is_skipped(portafn_client: Client) -> None:
    order(portafn_client, "c-4", "o-1")
    [record] = list(outbox.pending())
    # The change as the source announced it, kept to hand in again below. (Streams keep history
    # across tests, so it is picked out by its key; Cosmos's feed drops an item once deleted.)
    [change] = [
        c
        for source in outbox.sources()
        for c in source.read_changes(None, 1000)[0]
        if c.kind == "insert" and c.key.sk == record.sk
    ]
    bus = bus_of(portafn_client)
    assert portafn_client.deliver_changes().ok
    assert len(bus.published) == 1
    # The change source delivers the same change again (at least once): already relayed, skipped.
    assert outbox.relay_change(change, bus) == 0
    assert len(bus.published) == 1


def test_order_per_key_holds_when_the_broker_fails(portafn_client: Client) -> None:
    for i in range(6):
        order(portafn_client, "c-5", f"o-{i}")
        order(portafn_client, "c-6", f"o-{i}")
    broker = Flaky(refuse={2, 5})
    result = outbox.sweep(broker)
    assert result.failed > 0  # the refused sends and the later ones of their keys wait
    assert result.error == "ConnectionError: broker unavailable"
    while list(outbox.pending()):
        outbox.sweep(broker)
    by_key: dict[str | None, list[str]] = {}
    for m in broker.sent:
        by_key.setdefault(m.key, []).append(order_of(m))
    assert by_key == {"c-5": [f"o-{i}" for i in range(6)], "c-6": [f"o-{i}" for i in range(6)]}


def test_relaying_a_newer_record_sends_the_older_ones_of_its_key_first(portafn_client: Client) -> None:
    for i in range(3):
        order(portafn_client, "c-7", f"o-{i}")
    newest = max(outbox.pending(), key=lambda r: r.sk)
    broker = Flaky()
    assert outbox.relay_record(newest, broker) == 3
    assert [order_of(m) for m in broker.sent] == ["o-0", "o-1", "o-2"]


def test_the_sweep_function_is_the_polling_fallback(portafn_client: Client) -> None:
    order(portafn_client, "c-8", "o-1")
    order(portafn_client, "c-9", "o-1")
    delivery = portafn_client.fire("portafn_outbox_sweep")
    assert delivery.ok, delivery.error
    assert portafn_client.deliver_published().ok  # what the sweep relayed, through the broker
    assert sorted(m.data.customer_id for m in effects.seen if m.data) == ["c-8", "c-9"]
    assert list(outbox.pending()) == []


@pytest.mark.parametrize("use_changes", [True, False], ids=["change-source", "polling"])
def test_relay_loop_recovers_then_follows(portafn_client: Client, use_changes: bool) -> None:
    if use_changes and not current_store().capabilities.has(Capability.CHANGE_SOURCE):
        pytest.skip(f"{current_store().name} declares no change source; the polling case covers it")
    order(portafn_client, "c-10", "o-1")  # pending before the relay starts (a crashed relay's leftovers)
    broker = Flaky(refuse={3})
    relay = Relay(outbox, broker, use_changes=use_changes)
    assert relay.start().published == 1
    order(portafn_client, "c-10", "o-2")
    order(portafn_client, "c-10", "o-3")
    order(portafn_client, "c-10", "o-4")
    first = relay.run_once()
    assert first.failed >= 1  # o-3 refused: o-4 must not overtake it
    assert [order_of(m) for m in broker.sent] == ["o-1", "o-2"]
    relay.run_once()
    assert [order_of(m) for m in broker.sent] == ["o-1", "o-2", "o-3", "o-4"]
    assert list(outbox.pending()) == []


def test_publish_with_tx_needs_an_outbox() -> None:
    from portafn.store import transaction
    from portafn.store.memory import MemoryStore
    from portafn.store.registry import use_store

    bare = App("no-outbox")
    ctx = Runtime(bare).context("f", "c", None)
    with use_store(MemoryStore()), pytest.raises(PublishError, match="Outbox"), transaction() as tx:
        ctx.publish("t", {}, tx=tx)
    with pytest.raises(PublishError, match="already has an outbox"):
        Outbox(outbox_app)


def test_outbox_functions_are_registered() -> None:
    assert outbox_app.function("portafn_outbox_relay").kind == "changes"
    assert outbox_app.function("portafn_outbox_sweep").kind == "schedule"
    host_relay = outbox_app.function("portafn_outbox_relay_orders")
    assert isinstance(host_relay.trigger, ChangesTrigger)
    assert host_relay.trigger.table is orders
    assert host_relay.trigger.attached
    assert outbox.table.name in outbox_app.tables


def test_records_live_where_the_store_can_commit_them(portafn_client: Client) -> None:
    """In the outbox table where transactions cross tables; else attached to the orders partition
    the transaction wrote, which the table's reads and its own change functions never show."""
    order(portafn_client, "c-11", "o-1")
    [record] = list(outbox.pending())
    store = current_store()
    if store.capabilities.has(Capability.TRANSACTIONS_ACROSS_PARTITIONS):
        assert (record.host, record.host_pk) == (None, None)
        assert outbox.table.get(record.shard, record.sk) is not None
    else:
        assert (record.host, record.host_pk) == (orders.name, "c-11")
        assert outbox.table.query(record.shard).items == []
        assert [o.order_id for o in orders.query("c-11").items] == ["o-1"]
        typed, _ = orders.changes()
        assert [(c.kind, c.key) for c in typed] == [("insert", {"customer_id": "c-11", "order_id": "o-1"})]
    relay_by_change_source(portafn_client)
    assert portafn_client.deliver_published().ok  # what the relay sent, through the driver's broker
    assert [m.data.order_id for m in effects.seen if m.data] == ["o-1"]
    assert list(outbox.pending()) == []


def test_without_tables_a_single_partition_store_refuses_the_outbox(portafn_client: Client) -> None:
    """An outbox with no tables= needs transactions across tables: refused statically by
    `portafn check` and on use, naming the capability, where the store lacks them."""
    from portafn.capcheck import check
    from portafn.store import transaction
    from portafn.store.errors import Unsupported
    from portafn.store.registry import use_store

    bare = App("outbox-without-tables")
    plain = Outbox(bare, functions=False)
    items = bare.table(Order, partition_key="customer_id", sort_key="order_id", name="bare_orders")
    needed = Capability.TRANSACTIONS_ACROSS_PARTITIONS
    store = current_store()
    gaps = check(bare, store.capabilities)
    if store.capabilities.has(needed):
        assert gaps == []
        return
    assert any(g.table == plain.table.name and g.capability is needed for g in gaps), gaps
    ctx = Runtime(bare).context("f", "c", None)

    def publish_in_a_transaction() -> None:
        with transaction() as tx:
            tx.insert(items, Order(customer_id="c-1", order_id="o-1", total=1))
            ctx.publish("order-created", {"order_id": "o-1"}, tx=tx)

    with use_store(store):
        with pytest.raises(Unsupported, match="Outbox\\(app, tables=") as refused:
            publish_in_a_transaction()
        assert needed.value in str(refused.value)
        assert items.get("c-1", "o-1") is None  # nothing was committed
        with pytest.raises(Unsupported, match=needed.value):
            list(plain.pending())
