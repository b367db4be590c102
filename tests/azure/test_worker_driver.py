"""The contract driver's worker mode: requests and events reach the real Azure Functions worker.

``PORTAFN_AZURE_DRIVER=worker`` makes ``make_driver`` send each request and event through the
real Python worker (4.34.0) running the packaged app (``portafn_azure.dev.worker_driver``);
scripts/test runs the samples' contract suite that way. These tests pin what that mode adds.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.functions.meta import Datum
from portafn_azure.dev import worker
from portafn_azure.dev.worker_driver import AzureWorkerDriver, app_reference, error_name, set_cookie
from portafn_azure.driver import AzureDriver
from portafn_azure.payloads import http_datum, typed_data
from portafn_azure.worker_logs import forward_to_worker

from portafn.http import HttpRequest
from portafn.store.registry import open_store, use_store
from portafn.testing import Client
from portafn.testing.drivers import make_driver
from samples.orders.app import app as orders_app
from tests.azure import worker_host

pytestmark = pytest.mark.emulator


def test_the_mode_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAFN_AZURE_DRIVER", "inprocess")
    assert isinstance(make_driver("azure", orders_app), AzureDriver)
    monkeypatch.setenv("PORTAFN_AZURE_DRIVER", "wroker")
    with pytest.raises(ValueError, match="'worker' or 'inprocess'"):
        make_driver("azure", orders_app)


def test_the_app_is_found_by_the_module_that_defines_it() -> None:
    # samples/orders/conftest.py imports it too; the packager must import the defining module.
    assert app_reference(orders_app) == "samples.orders.app:app"


def test_worker_exception_text_gives_the_error_type() -> None:
    assert error_name("NotFound: no order ghost") == "NotFound"
    assert error_name("") == "Exception"


def test_worker_cookies_read_back_as_the_in_process_driver_writes_them() -> None:
    # RpcHttpCookie in the protobuf JSON mapping, as the worker 4.34.0 answers a Set-Cookie header.
    cookie = {
        "name": "sid",
        "value": "abc",
        "domain": {"value": ""},
        "path": {"value": "/"},
        "secure": {"value": True},
        "http_only": {"value": True},
        "same_site": "Lax",
        "max_age": {"value": 60.0},
        "expires": {"value": "2030-01-02T03:04:05Z"},
    }
    assert set_cookie(cookie) == (
        "sid=abc; Expires=Wed, 02 Jan 2030 03:04:05 GMT; HttpOnly; Max-Age=60; Path=/; SameSite=Lax; Secure"
    )
    assert set_cookie({"name": "theme", "value": "dark", "secure": {"value": False}}) == "theme=dark"


def test_payloads_become_typed_data_as_the_host_sends_them() -> None:
    request = HttpRequest("POST", "/customers/ada/orders", query="limit=2&empty=", body=b"\x00{}")
    request.path_params = {"customer_id": "ada"}
    http = typed_data(http_datum(request))["http"]
    assert http["method"] == "POST"
    assert http["url"].endswith("/api/customers/ada/orders?limit=2&empty=")
    assert http["query"] == {"limit": "2"}  # the host drops empty query values
    assert http["params"] == {"customer_id": "ada"}
    assert base64.b64decode(http["body"]["bytes"]) == b"\x00{}"
    assert typed_data(Datum('{"a": 1}', "json")) == {"json": '{"a": 1}'}


def test_without_the_runtimes_the_worker_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAFN_RUNTIMES", str(tmp_path))
    with pytest.raises(worker.WorkerUnavailable, match=str(tmp_path)):
        worker.prepare()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[AzureWorkerDriver]:
    try:
        worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
    store = open_store(f"sqlite:///{tmp_path}/worker.db")
    with use_store(store):
        for table in orders_app.tables.values():
            store.ensure_table(table.spec)
        yield AzureWorkerDriver(orders_app)
    store.close()


def test_requests_and_events_run_in_the_worker_process(driver: AzureWorkerDriver) -> None:
    client = Client(orders_app, driver)
    created = client.post("/customers/ada/orders", json={"order_id": "o-1", "total_cents": 5})
    assert created.status == 201, created.text()
    # The worker bound its own logs to this invocation: the answer came from it, not from here.
    assert any("function name: create_order" in log["message"] for log in driver.last_logs)
    assert {log["invocation_id"] for log in driver.last_logs} == {created.headers.get("x-correlation-id")}
    assert client.get("/customers/ada/orders/o-1").json()["total_cents"] == 5
    delivery = client.send("order-events", {"customer_id": "ada", "order_id": "o-404", "status": "paid"})
    assert delivery[0].error == "NotFound"
    assert delivery[0].retry


def test_portafn_log_lines_are_bound_to_the_invocation(driver: AzureWorkerDriver) -> None:
    created = Client(orders_app, driver).post(
        "/customers/ada/orders", json={"order_id": "o-2", "total_cents": 5}
    )
    invocation = created.headers.get("x-correlation-id")
    ours = [log for log in driver.last_logs if log["category"].startswith("portafn")]
    assert [json.loads(log["message"])["message"] for log in ours] == ["order created"]
    assert ours[0]["invocation_id"] == invocation
    assert json.loads(ours[0]["message"])["request_id"] == invocation
    assert ours[0]["log_category"] == "User"


def test_outside_the_worker_logs_stay_on_stderr() -> None:
    logger = logging.getLogger("portafn.test-forwarding")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    try:
        assert not forward_to_worker(logger)
        assert logger.handlers == [handler]
    finally:
        logger.removeHandler(handler)


def test_app_settings_stay_off_the_worker_hosts_command_line(
    driver: AzureWorkerDriver, tmp_path: Path
) -> None:
    from portafn_azure.dev.worker_session import _sessions

    Client(orders_app, driver).get("/customers/ada/orders/none")  # starts this test's session
    store_url = f"sqlite:///{tmp_path}/worker.db"
    ours = []
    for session in _sessions.values():
        argv = Path(f"/proc/{session._proc.pid}/cmdline").read_bytes().split(b"\0")
        assert not any(b"sqlite:" in arg for arg in argv), argv  # no setting on any command line
        settings_file = Path(argv[argv.index(b"--settings-file") + 1].decode())
        assert settings_file.stat().st_mode & 0o077 == 0  # only this user reads it
        if json.loads(settings_file.read_text()).get("PORTAFN_STORE") == store_url:
            ours.append(session)
    assert len(ours) == 1, "this test's worker got its store through the settings file"
