"""The packaged orders app under the real Azure Functions Python worker (4.34.0).

``get_functions()`` alone misses what the worker checks at indexing (it resolves every annotation
with ``typing.get_type_hints``), so the built ``functionapp/`` folder is indexed, loaded and
invoked by the worker itself, over its gRPC protocol, from the loopback host in
``../shared/runtimes`` (see ``tests/azure/worker_host.py``). The store is SQLite in a scratch folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portafn.package import package
from samples.orders.app import app as orders_app
from tests.azure import worker_host
from tests.azure.worker_host import Worker, step

pytestmark = pytest.mark.emulator

ORDER = {"order_id": "o-1", "total_cents": 1250}
INVOCATIONS: list[dict[str, Any]] = [
    {"name": "create", "function": "create_order", "kind": "http", "method": "POST",
     "path": "customers/ada/orders", "params": {"customer_id": "ada"}, "json": ORDER,
     "expect": {"status": 201}},
    {"name": "invalid body", "function": "create_order", "kind": "http", "method": "POST",
     "path": "customers/ada/orders", "params": {"customer_id": "ada"},
     "json": {"order_id": "bad id!", "total_cents": -5}, "expect": {"status": 400}},
    {"name": "duplicate", "function": "create_order", "kind": "http", "method": "POST",
     "path": "customers/ada/orders", "params": {"customer_id": "ada"}, "json": ORDER,
     "expect": {"status": 409}},
    {"name": "queue: paid", "function": "on_order_event", "kind": "queue",
     "message": {"customer_id": "ada", "order_id": "o-1", "status": "paid"}, "expect": {"success": True}},
    {"name": "read after queue", "function": "get_order", "kind": "http", "method": "GET",
     "path": "customers/ada/orders/o-1", "params": {"customer_id": "ada", "order_id": "o-1"},
     "expect": {"status": 200, "body_contains": '"paid"'}},
    {"name": "queue: CloudEvent as bytes", "function": "on_order_event", "kind": "queue", "as_bytes": True,
     "message": {"specversion": "1.0", "id": "ev-1", "source": "/payments", "type": "order.status",
                 "datacontenttype": "application/json",
                 "data": {"customer_id": "ada", "order_id": "o-1", "status": "shipped"}},
     "expect": {"success": True}},
    {"name": "list", "function": "list_orders", "kind": "http", "method": "GET",
     "path": "customers/ada/orders", "params": {"customer_id": "ada"}, "query": {"limit": "10"},
     "expect": {"status": 200, "body_contains": '"shipped"'}},
    {"name": "queue: unknown order is retried", "function": "on_order_event", "kind": "queue",
     "message": {"customer_id": "ada", "order_id": "o-404", "status": "paid"}, "expect": {"success": False}},
    {"name": "missing", "function": "get_order", "kind": "http", "method": "GET",
     "path": "customers/ada/orders/nope", "params": {"customer_id": "ada", "order_id": "nope"},
     "expect": {"status": 404}},
    {"name": "timer", "function": "nightly", "kind": "timer", "expect": {"success": True}},
    {"name": "cosmos change", "function": "on_order_change", "kind": "cosmos", "documents": [
        {"id": "o-1", "pk": "ada", "sk": "o-1",
         "doc": {"customer_id": "ada", "order_id": "o-1", "total_cents": 1250, "status": "shipped",
                 "note": None, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:01:00Z"},
         "_etag": '"0000-01"', "_ts": 1735689660, "_lsn": 7}],
     "expect": {"success": True}},
]  # fmt: skip


@pytest.fixture(scope="session")
def worker() -> Worker:
    """The real worker, set up once per session under the cache folder."""
    try:
        return worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
        raise  # unreachable: unavailable() skips or fails


@pytest.fixture(scope="session")
def worker_results(worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The orders app packaged for the worker's Python and run under it once."""
    out = tmp_path_factory.mktemp("azure-worker")
    lines: list[str] = []
    package(
        "samples.orders.app:app", "azure", out / "dist", python=worker.python_version(), progress=lines.append
    )
    results = worker_host.run(worker, out / "dist" / "functionapp", out / "run", INVOCATIONS)
    results["console_log"] = str(out / "run" / "results.worker-stdio.log")
    return results


def test_the_worker_indexes_every_function(worker_results: dict[str, Any]) -> None:
    metadata = step(worker_results, "FunctionMetadataResponse")
    assert metadata["status"] == "Success", metadata.get("exception")
    assert sorted(f["name"] for f in metadata["functions"]) == sorted(orders_app.functions)


def test_the_worker_loads_every_function(worker_results: dict[str, Any]) -> None:
    for name in orders_app.functions:
        loaded = step(worker_results, f"FunctionLoadResponse {name}")
        assert loaded["status"] == "Success", (name, loaded.get("exception"))


@pytest.mark.parametrize("invocation", INVOCATIONS, ids=[i["name"] for i in INVOCATIONS])
def test_each_invocation_answers_as_expected(
    worker_results: dict[str, Any], invocation: dict[str, Any]
) -> None:
    result = step(worker_results, f"invoke {invocation['name']}")
    assert result["ok"], result.get("problems") or result.get("exception")
    expect = invocation["expect"]
    if "status" in expect:
        assert result["return_value"]["status"] == str(expect["status"])
    else:
        assert (result["status"] == "Success") is expect["success"], result.get("exception")


def test_a_handler_failure_reaches_the_worker_as_the_handlers_error(worker_results: dict[str, Any]) -> None:
    # The host retries on a raise (portafn_azure.outcomes); the error must be portafn's, not the adapter's.
    failed = step(worker_results, "invoke queue: unknown order is retried")
    assert failed["status"] == "Failure"
    assert failed["exception"].startswith("NotFound"), failed["exception"]


def test_portafn_log_lines_are_the_invocations_logs(worker_results: dict[str, Any]) -> None:
    # The host keeps, per invocation, the RpcLogs bound to its invocation id (portafn_azure.worker_logs).
    created = step(worker_results, "invoke create")
    lines = [
        json.loads(log.split(": ", 1)[1]) for log in created["logs"] if log.startswith("Information portafn.")
    ]
    assert [line["message"] for line in lines] == ["order created"], created["logs"]
    assert lines[0]["function"] == "create_order"
    failed = step(worker_results, "invoke queue: unknown order is retried")
    assert any(log.startswith("Error portafn.") and "handler raised" in log for log in failed["logs"])


def test_portafn_log_lines_leave_the_console(worker_results: dict[str, Any]) -> None:
    # Forwarded, not duplicated: the worker's stdout/stderr (console logs, with no invocation id) lack them.
    console = Path(worker_results["console_log"]).read_text()
    assert "order created" not in console
