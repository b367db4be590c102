"""The orders sample's FunctionApp as the worker indexes it, and each function run via the library."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from azure.functions.http import HttpRequestConverter, HttpResponseConverter
from portafn_azure.driver import AzureDriver, decode_http_response, http_datum
from portafn_azure.http import to_azure_response
from pydantic import BaseModel

from portafn import App, Change, Context, Event, Message, Schedule, StorageEvent
from portafn.http import HttpRequest, HttpResponse
from portafn.store.memory import MemoryStore
from portafn.store.registry import use_store
from samples.orders.app import app as orders_app


class Item(BaseModel):
    """A row of the every-trigger app."""

    pk: str


SNAPSHOT = Path(__file__).parent / "snapshots" / "orders_functions.json"


@functools.cache
def _indexed() -> dict[str, Any]:
    # Indexed once, as the worker does at start-up (get_functions() validates and is not re-entrant).
    from samples.orders.entry_azure import app

    return {f.get_function_name(): json.loads(f.get_function_json()) for f in app.get_functions()}


def test_bindings_snapshot() -> None:
    current = json.dumps(_indexed(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("PORTAFN_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text(), (
        "bindings changed; rerun with PORTAFN_UPDATE_SNAPSHOTS=1 if intended"
    )


def test_schedule_is_six_field_ncrontab() -> None:
    assert _indexed()["nightly"]["bindings"][0]["schedule"] == "0 0 2 * * *"


def test_servicebus_is_selectable() -> None:
    driver = AzureDriver(orders_app, messaging="servicebus")
    binding = json.loads(driver.functions["on_order_event"].get_function_json())["bindings"][0]
    assert (binding["type"], binding["queueName"]) == ("serviceBusTrigger", "order-events")


def test_each_function_invoked_through_the_library_converters() -> None:
    driver = AzureDriver(orders_app)
    with use_store(MemoryStore()):
        created = driver.http(
            HttpRequest(
                "POST",
                "/customers/c-1/orders",
                headers={"content-type": "application/json"},
                body=b'{"order_id": "o-1", "total_cents": 5}',
            )
        )
        assert created.status == 201, created.text()
        assert created.headers.get("Location") == "/customers/c-1/orders/o-1"
        got = driver.http(HttpRequest("GET", "/customers/c-1/orders/o-1"))
        assert got.json()["total_cents"] == 5
        listed = driver.http(HttpRequest("GET", "/customers/c-1/orders", query="limit=1"))
        assert [o["order_id"] for o in listed.json()["items"]] == ["o-1"]
        from portafn.factories import make_message, make_schedule

        fn = orders_app.function("on_order_event")
        ok = driver.deliver(
            fn,
            make_message({"customer_id": "c-1", "order_id": "o-1", "status": "paid"}, queue="order-events"),
        )
        assert ok.ok, ok.error
        bad = driver.deliver(
            fn, make_message({"customer_id": "c-9", "order_id": "x", "status": "paid"}, queue="order-events")
        )
        assert (bad.ok, bad.error, bad.retry) == (False, "NotFound", True)  # retried, then <queue>-poison
        assert driver.deliver(
            orders_app.function("nightly"), make_schedule(orders_app.function("nightly"))
        ).ok


def test_response_cookies_multi_headers_and_binary_survive_the_library_encoder() -> None:
    resp = HttpResponse(
        b"\x00\xffbin",
        status=207,
        headers=[("X-Tag", "a"), ("X-Tag", "b")],
        content_type="image/png",
        cookies=["a=1; Path=/", "b=2; HttpOnly"],
    )
    datum = HttpResponseConverter.encode(to_azure_response(resp), expected_type=None)
    back = decode_http_response(datum)
    assert (back.status, back.body, back.headers.get("x-tag"), back.content_type) == (
        207,
        b"\x00\xffbin",
        "a, b",
        "image/png",
    )
    assert sorted(c.split(";")[0] for c in back.cookies) == ["a=1", "b=2"]


def test_request_translation_keeps_query_cookies_and_bytes() -> None:
    from portafn_azure.http import to_request

    req = HttpRequest("PUT", "/x/y", query="t=1&t=2", headers={"Cookie": "s=abc; t=2"}, body=b"\x01\x02")
    native = HttpRequestConverter.decode(http_datum(req), trigger_metadata={})
    back = to_request(native)
    assert (back.method, back.path, back.query["t"], back.cookies["s"], back.body) == (
        "PUT",
        "/x/y",
        ["1", "2"],
        "abc",
        b"\x01\x02",
    )


def test_importing_the_adapter_loads_no_other_cloud_sdk() -> None:
    code = (
        "import sys; before = set(sys.modules); import portafn_azure, portafn_azure.entry, portafn_azure.cosmos_store; "
        "new = set(sys.modules) - before; "
        "bad = sorted(m for m in new if m.split('.')[0] in ('boto3', 'botocore', 'google')); print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", ["/customers/c-1/orders"])
def test_route_prefix_is_stripped(path: str) -> None:
    from portafn_azure.http import to_request

    native = HttpRequestConverter.decode(http_datum(HttpRequest("GET", path)), trigger_metadata={})
    assert to_request(native).path == path


def test_changes_trigger_watches_the_store_database_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAFN_STORE", "cosmos://acct/shop?prefix=dev-")
    monkeypatch.delenv("PORTAFN_COSMOS_DATABASE", raising=False)
    monkeypatch.delenv("PORTAFN_COSMOS_PREFIX", raising=False)
    driver = AzureDriver(orders_app)
    binding = json.loads(driver.functions["on_order_change"].get_function_json())["bindings"][0]
    assert (binding["type"], binding["databaseName"], binding["containerName"]) == (
        "cosmosDBTrigger",
        "shop",
        "dev-orders",
    )


def _every_trigger_kind() -> App:
    app = App("every-kind")
    table = app.table(Item, partition_key="pk")

    @app.http("GET", "/items/{pk}")
    def read(pk: str, ctx: Context) -> dict[str, str]:
        return {"pk": pk}

    @app.queue("jobs")
    def job(msg: Message[Item], ctx: Context) -> None: ...

    @app.topic("billing")
    def billing(msg: Message[Item], ctx: Context) -> None: ...

    @app.schedule("0 2 * * *")
    def nightly(ev: Schedule, ctx: Context) -> None: ...

    @app.storage("uploads", on="created")
    def uploaded(ev: StorageEvent, ctx: Context) -> None: ...

    @app.storage("uploads", on="deleted")
    def deleted(ev: StorageEvent, ctx: Context) -> None: ...

    @app.changes(table)
    def changed(change: Change[Item], ctx: Context) -> None: ...

    @app.event("item.created")
    def created(ev: Event[Item], ctx: Context) -> None: ...

    return app


@pytest.mark.parametrize("messaging", ["storage", "servicebus"])
def test_every_generated_function_has_annotations_the_worker_can_resolve(messaging: str) -> None:
    # The worker calls typing.get_type_hints on each function at indexing; a name that does not
    # resolve (postponed annotations naming a local import) fails the whole app there.
    from portafn_azure.entry import function_app

    app = _every_trigger_kind()
    functions = function_app(app, messaging=messaging).get_functions()
    assert sorted(f.get_function_name() for f in functions) == sorted(app.functions)
    for f in functions:
        hints = typing.get_type_hints(f.get_user_function())
        assert "context" in hints, f.get_function_name()
        trigger = next(
            b for b in json.loads(f.get_function_json())["bindings"] if b["type"].endswith("Trigger")
        )
        assert isinstance(hints[trigger["name"]], type), (f.get_function_name(), hints)
