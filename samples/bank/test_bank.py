"""The bank sample's contract, on each (provider, store) cell: command -> event -> view."""

from __future__ import annotations

from portafn.projections import rebuild
from portafn.testing import Client
from samples.bank.app import accounts, activity_view, balance_view, balances


def open_account(client: Client, account_id: str, owner: str = "ada") -> int:
    return client.post("/accounts", json={"account_id": account_id, "owner": owner}).status


def move(client: Client, account_id: str, kind: str, cents: int) -> tuple[int, dict[str, object]]:
    resp = client.post(f"/accounts/{account_id}/{kind}", json={"amount_cents": cents})
    return resp.status, resp.json()


def project(client: Client) -> None:
    deliveries = client.deliver_changes()
    assert deliveries.ok, deliveries.errors


def test_commands_append_events_and_the_projections_keep_the_views(portafn_client: Client) -> None:
    assert open_account(portafn_client, "acc-1") == 201
    assert move(portafn_client, "acc-1", "deposits", 1000) == (
        200,
        {"account_id": "acc-1", "balance_cents": 1000, "version": 2},
    )
    status, receipt = move(portafn_client, "acc-1", "withdrawals", 300)
    assert (status, receipt["balance_cents"], receipt["version"]) == (200, 700, 3)
    assert [type(e.event).__name__ for e in accounts.read("acc-1")] == ["Opened", "Deposited", "Withdrawn"]

    assert portafn_client.get("/accounts/acc-1").status == 404  # the view follows the events
    project(portafn_client)
    view = portafn_client.get("/accounts/acc-1").json()
    assert view == {"account_id": "acc-1", "owner": "ada", "balance_cents": 700, "version": 3}
    lines = portafn_client.get("/accounts/acc-1/activity").json()["items"]
    assert [(li["version"], li["kind"], li["amount_cents"]) for li in lines] == [
        (2, "deposited", 1000),
        (3, "withdrawn", 300),
    ]


def test_a_withdrawal_beyond_the_balance_is_a_typed_409_and_appends_nothing(portafn_client: Client) -> None:
    assert open_account(portafn_client, "acc-2") == 201
    assert move(portafn_client, "acc-2", "deposits", 500)[0] == 200
    resp = portafn_client.post("/accounts/acc-2/withdrawals", json={"amount_cents": 501})
    assert resp.status == 409
    assert resp.headers.get("content-type") == "application/problem+json"
    body = resp.json()
    assert (body["type"], body["balance_cents"], body["requested_cents"]) == (
        "/problems/insufficient-funds",
        500,
        501,
    )
    assert accounts.version("acc-2") == 2
    project(portafn_client)
    assert portafn_client.get("/accounts/acc-2").json()["balance_cents"] == 500


def test_opening_a_taken_id_is_a_typed_409(portafn_client: Client) -> None:
    assert open_account(portafn_client, "acc-3") == 201
    resp = portafn_client.post("/accounts", json={"account_id": "acc-3", "owner": "bob"})
    assert resp.status == 409
    assert resp.json()["type"] == "/problems/account-exists"
    assert accounts.version("acc-3") == 1


def test_unknown_accounts_and_bad_bodies(portafn_client: Client) -> None:
    assert move(portafn_client, "nobody", "deposits", 5)[0] == 404
    assert accounts.version("nobody") == 0
    resp = portafn_client.post("/accounts", json={"account_id": "bad id!", "owner": ""})
    assert resp.status == 400
    assert {tuple(e["loc"]) for e in resp.json()["errors"]} == {("body", "account_id"), ("body", "owner")}
    assert move(portafn_client, "acc-x", "withdrawals", 0)[0] == 400


def test_redelivered_and_replayed_events_change_no_view(portafn_client: Client) -> None:
    assert open_account(portafn_client, "acc-4") == 201
    for cents in (100, 200, 300):
        assert move(portafn_client, "acc-4", "deposits", cents)[0] == 200
    project(portafn_client)
    project(portafn_client)  # nothing new
    assert balance_view.handle("acc-4", 2) == 0  # a late, duplicate delivery
    assert activity_view.catch_up("acc-4") == 0
    assert portafn_client.get("/accounts/acc-4").json()["balance_cents"] == 600
    assert len(portafn_client.get("/accounts/acc-4/activity").json()["items"]) == 3


def test_rebuild_recomputes_the_view_from_the_streams(portafn_client: Client) -> None:
    assert open_account(portafn_client, "acc-5") == 201
    assert move(portafn_client, "acc-5", "deposits", 900)[0] == 200
    project(portafn_client)
    wrong = balances.get("acc-5")
    assert wrong is not None
    balances.put(wrong.model_copy(update={"balance_cents": 1}))
    result = rebuild(balance_view)
    assert result.events >= 2
    assert portafn_client.get("/accounts/acc-5").json()["balance_cents"] == 900
