"""The inventory sample's contract: middleware, exception handlers and event middleware behave the
same on each (provider, store) cell of the matrix."""

from __future__ import annotations

from portafn.testing import Client
from samples.inventory.app import audit

WIDGET = {"sku": "w-1", "name": "Widget", "on_hand": 3}


def test_middleware_wraps_handler_in_registration_order(portafn_client: Client) -> None:
    resp = portafn_client.request("PUT", "/items/w-1", json=WIDGET)
    assert resp.status == 200, resp.text()
    # The first registered is outermost, so its "after" code runs last.
    assert resp.headers.get_list("X-Trail") == ["maintenance", "timing"]
    assert (resp.headers.get("Server-Timing") or "").startswith("app;dur=")


def test_middleware_sees_portafn_own_answers(portafn_client: Client) -> None:
    missing = portafn_client.get("/nowhere")
    assert missing.status == 404
    assert missing.headers.get("content-type") == "application/problem+json"
    assert missing.headers.get_list("X-Trail") == ["maintenance", "timing"]
    invalid = portafn_client.request("PUT", "/items/w-1", json={"sku": "w-1", "on_hand": -1})
    assert invalid.status == 400
    assert invalid.headers.get_list("X-Trail") == ["maintenance", "timing"]


def test_middleware_can_answer_without_the_handler(portafn_client: Client) -> None:
    resp = portafn_client.request(
        "PUT", "/items/w-2", json={**WIDGET, "sku": "w-2"}, headers={"X-Maintenance": "on"}
    )
    assert resp.status == 503
    assert resp.json()["detail"] == "Inventory is in maintenance."
    assert portafn_client.get("/items/w-2").status == 404  # the handler never ran


def test_exception_handler_maps_business_error(portafn_client: Client) -> None:
    assert portafn_client.request("PUT", "/items/w-1", json=WIDGET).status == 200
    resp = portafn_client.post("/items/w-1/reservations", json={"quantity": 5})
    assert resp.status == 409
    assert resp.headers.get("content-type") == "application/problem+json"
    assert {k: resp.json()[k] for k in ("sku", "wanted", "on_hand")} == {
        "sku": "w-1",
        "wanted": 5,
        "on_hand": 3,
    }
    assert resp.headers.get_list("X-Trail") == ["maintenance", "timing"]
    ok = portafn_client.post("/items/w-1/reservations", json={"quantity": 2})
    assert ok.status == 200
    assert ok.json()["on_hand"] == 1


def test_portafn_mapping_still_applies_without_a_handler(portafn_client: Client) -> None:
    resp = portafn_client.post("/items/ghost/reservations", json={"quantity": 1})
    assert resp.status == 404  # NotFound from the store, no handler registered for it
    assert resp.headers.get("content-type") == "application/problem+json"


def test_event_middleware_runs_before_and_after(portafn_client: Client) -> None:
    assert portafn_client.request("PUT", "/items/w-1", json=WIDGET).status == 200
    delivery = portafn_client.send("restocks", {"sku": "w-1", "quantity": 4})
    assert delivery.ok, delivery.errors
    assert portafn_client.get("/items/w-1").json()["on_hand"] == 7
    entries = audit.query("on_restock").items
    assert [(e.phase, e.outcome) for e in entries] == [("after", "ok"), ("before", None)]
    assert entries[0].event_id == entries[1].event_id


def test_event_middleware_sees_failures(portafn_client: Client) -> None:
    delivery = portafn_client.send("restocks", {"sku": "ghost", "quantity": 1})
    assert not delivery.ok
    assert delivery[0].retry
    after = [e for e in audit.query("on_restock").items if e.phase == "after"]
    assert [e.outcome for e in after] == ["NotFound"]
