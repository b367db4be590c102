"""The packaged inventory app (middleware, CORS, auth, dependencies, async, OpenAPI, per-function
settings) under the real Azure Functions Python worker, as ``test_worker.py`` runs the orders app.

The host's routing is not part of the worker: each invocation names the function the host would
route to (a preflight goes to the function that took ``OPTIONS`` for its path).
"""

from __future__ import annotations

from typing import Any

import pytest

from portafn.package import package
from samples.inventory.app import app as inventory_app
from tests.azure import worker_host
from tests.azure.worker_host import Worker, step

pytestmark = pytest.mark.emulator

SHOP = "https://shop.example.com"
WIDGET = {"sku": "w-1", "name": "Widget", "on_hand": 3}
INVOCATIONS: list[dict[str, Any]] = [
    {"name": "preflight", "function": "put_item", "kind": "http", "method": "OPTIONS", "path": "items/w-1",
     "params": {"sku": "w-1"}, "headers": {"Origin": SHOP, "Access-Control-Request-Method": "PUT"},
     "expect": {"status": 204}},
    {"name": "put", "function": "put_item", "kind": "http", "method": "PUT", "path": "items/w-1",
     "params": {"sku": "w-1"}, "json": WIDGET, "headers": {"Origin": SHOP}, "expect": {"status": 200}},
    {"name": "too many", "function": "reserve", "kind": "http", "method": "POST", "path": "items/w-1/reservations",
     "params": {"sku": "w-1"}, "json": {"quantity": 50}, "expect": {"status": 409, "body_contains": "on_hand"}},
    {"name": "no token", "function": "me", "kind": "http", "method": "GET", "path": "me",
     "expect": {"status": 401}},
    {"name": "quote 1", "function": "quote", "kind": "http", "method": "GET", "path": "items/w-1/quote",
     "params": {"sku": "w-1"}, "expect": {"status": 200, "body_contains": "total_cents"}},
    {"name": "quote 2", "function": "quote", "kind": "http", "method": "GET", "path": "items/w-1/quote",
     "params": {"sku": "w-1"}, "expect": {"status": 200, "body_contains": "total_cents"}},
    {"name": "bin", "function": "item_bin", "kind": "http", "method": "GET", "path": "warehouse/items/w-1/bin",
     "params": {"sku": "w-1"}, "headers": {"X-Warehouse": "eu-1"},
     "expect": {"status": 200, "body_contains": "eu-1/W"}},
    {"name": "openapi", "function": "openapi", "kind": "http", "method": "GET", "path": "openapi.json",
     "expect": {"status": 200, "body_contains": "3.1.0"}},
    {"name": "restock", "function": "on_restock", "kind": "queue",
     "message": {"sku": "w-1", "quantity": 4}, "expect": {"success": True}},
]  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    try:
        worker: Worker = worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
        raise  # unreachable: unavailable() skips or fails
    out = tmp_path_factory.mktemp("azure-worker-inventory")
    package(
        "samples.inventory.app:app",
        "azure",
        out / "dist",
        python=worker.python_version(),
        progress=lambda _: None,
    )
    return worker_host.run(worker, out / "dist" / "functionapp", out / "run", INVOCATIONS)


def test_the_worker_indexes_and_loads_every_function(results: dict[str, Any]) -> None:
    metadata = step(results, "FunctionMetadataResponse")
    assert metadata["status"] == "Success", metadata.get("exception")
    assert sorted(f["name"] for f in metadata["functions"]) == sorted(inventory_app.functions)
    for name in inventory_app.functions:
        assert step(results, f"FunctionLoadResponse {name}")["status"] == "Success", name


@pytest.mark.parametrize("invocation", INVOCATIONS, ids=[i["name"] for i in INVOCATIONS])
def test_each_invocation_answers_as_expected(results: dict[str, Any], invocation: dict[str, Any]) -> None:
    result = step(results, f"invoke {invocation['name']}")
    assert result["ok"], result.get("problems") or result.get("exception")


def test_cors_headers_survive_the_worker(results: dict[str, Any]) -> None:
    for name in ("preflight", "put"):
        headers = {
            k.lower(): v for k, v in step(results, f"invoke {name}")["return_value"]["headers"].items()
        }
        assert headers.get("access-control-allow-origin") == SHOP, (name, headers)
