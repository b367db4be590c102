"""The orders sample's contract: written once, run on each (provider, store) cell of the matrix."""

from __future__ import annotations

from portafn.testing import Client
from samples.orders.app import activity, orders, runs


def create(client: Client, customer: str, order_id: str, total: int = 100) -> int:
    resp = client.post(f"/customers/{customer}/orders", json={"order_id": order_id, "total_cents": total})
    return resp.status


def test_create_then_get(portafn_client: Client) -> None:
    resp = portafn_client.post(
        "/customers/c-1/orders", json={"order_id": "o-1", "total_cents": 1250, "note": "gift wrap"}
    )
    assert resp.status == 201, resp.text()
    assert resp.headers.get("Location") == "/customers/c-1/orders/o-1"
    created = resp.json()
    assert (created["total_cents"], created["status"], created["note"]) == (1250, "new", "gift wrap")

    got = portafn_client.get("/customers/c-1/orders/o-1")
    assert got.status == 200
    assert got.json() == created


def test_duplicate_order_is_409(portafn_client: Client) -> None:
    assert create(portafn_client, "c-1", "o-1") == 201
    resp = portafn_client.post("/customers/c-1/orders", json={"order_id": "o-1", "total_cents": 5})
    assert resp.status == 409
    assert resp.headers.get("content-type") == "application/problem+json"
    assert portafn_client.get("/customers/c-1/orders/o-1").json()["total_cents"] == 100


def test_invalid_body_is_400_naming_fields(portafn_client: Client) -> None:
    resp = portafn_client.post("/customers/c-1/orders", json={"order_id": "bad id!", "total_cents": -5})
    assert resp.status == 400
    assert {tuple(e["loc"]) for e in resp.json()["errors"]} == {("body", "order_id"), ("body", "total_cents")}


def test_missing_order_is_404(portafn_client: Client) -> None:
    resp = portafn_client.get("/customers/c-1/orders/nope")
    assert resp.status == 404
    assert resp.json()["title"] == "Not Found"


def test_list_pages_in_order(portafn_client: Client) -> None:
    for i in range(5):
        assert create(portafn_client, "c-2", f"o-{i}", total=i) == 201
    assert create(portafn_client, "c-3", "o-x") == 201  # another customer's order never shows up
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"limit": ["2"], **({"cursor": [cursor]} if cursor else {})}
        page = portafn_client.get("/customers/c-2/orders", query=query).json()
        seen += [o["order_id"] for o in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == [f"o-{i}" for i in range(5)]


def test_queue_event_updates_status(portafn_client: Client) -> None:
    assert create(portafn_client, "c-4", "o-1") == 201
    delivery = portafn_client.send(
        "order-events", {"customer_id": "c-4", "order_id": "o-1", "status": "paid"}
    )
    assert delivery.ok, delivery.errors
    assert portafn_client.get("/customers/c-4/orders/o-1").json()["status"] == "paid"


def test_poison_message_fails_without_touching_data(portafn_client: Client) -> None:
    assert create(portafn_client, "c-5", "o-1") == 201
    delivery = portafn_client.send(
        "order-events", {"customer_id": "c-5", "order_id": "o-1", "status": "lost"}
    )
    assert not delivery.ok
    assert delivery.errors == ["EventDataError"]
    assert portafn_client.get("/customers/c-5/orders/o-1").json()["status"] == "new"


def test_event_for_unknown_order_is_retried(portafn_client: Client) -> None:
    delivery = portafn_client.send(
        "order-events", {"customer_id": "c-6", "order_id": "ghost", "status": "paid"}
    )
    assert not delivery.ok
    assert delivery[0].retry
    assert orders.get("c-6", "ghost") is None


def test_nightly_schedule_records_a_run(portafn_client: Client) -> None:
    delivery = portafn_client.fire("nightly")
    assert delivery.ok, delivery.error
    recorded = runs.query("nightly").items
    assert len(recorded) == 1
    assert recorded[0].job == "nightly"


def test_changes_feed_the_activity_trail(portafn_client: Client) -> None:
    assert create(portafn_client, "c-7", "o-1") == 201
    assert portafn_client.send(
        "order-events", {"customer_id": "c-7", "order_id": "o-1", "status": "shipped"}
    ).ok
    deliveries = portafn_client.deliver_changes()
    assert deliveries.ok, deliveries.errors
    trail = activity.query("c-7:o-1").items
    # Every store delivers the latest version; only some deliver each intermediate one (Cosmos DB's
    # change feed coalesces), so the portable promise is that the shipped state arrives.
    assert "shipped" in {a.status for a in trail}
    assert {(a.kind, a.status) for a in trail} <= {
        ("insert", "new"),
        ("modify", "shipped"),
        ("insert", "shipped"),
    }
