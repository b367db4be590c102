"""The bank sample's built Azure function app under the real Azure Functions Python worker (4.34.0).

The worker indexes and loads the built ``functionapp/`` folder as it is (no test hook added) and
answers each invocation the loopback host in ``../shared/runtimes`` sends over its gRPC protocol
(``portafn_azure.dev.worker_session``). The store is one SQLite file that the worker's process and
this test share: the test reads the events container's pending changes to make the Cosmos DB
trigger's document batch for the projector, in the shape the Azure driver sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.functions.meta import Datum
from portafn_azure.dev.worker_driver import http_response
from portafn_azure.dev.worker_session import WorkerSession
from portafn_azure.driver import AzureDriver
from portafn_azure.payloads import http_datum, typed_data

from portafn.changes import pending_changes
from portafn.http import HttpRequest
from portafn.package import package
from portafn.store.registry import open_store, use_store
from samples.bank.app import accounts, app
from tests.azure import worker_host
from tests.package.conftest import PYTHON, SampleBuilds, artifact

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def worker() -> worker_host.Worker:
    """The real worker, set up once (skipped with the reason where ../shared/runtimes is absent)."""
    try:
        return worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
        raise  # unreachable: unavailable() skips or fails


@pytest.fixture(scope="module")
def app_folder(
    worker: worker_host.Worker, sample_builds: SampleBuilds, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The bank's built function app for the worker's Python (the shared build when it matches)."""
    if worker.python_version() == PYTHON:
        return artifact(sample_builds("bank", "azure"), "functionapp")
    out = tmp_path_factory.mktemp("bank-azure")
    package("samples.bank.app:app", "azure", out, python=worker.python_version(), progress=lambda line: None)
    return out / "functionapp"


@pytest.fixture(scope="module")
def session(
    worker: worker_host.Worker, app_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerSession]:
    """The worker serving the app on a fresh SQLite file, which these tests open too."""
    url = f"sqlite:///{tmp_path_factory.mktemp('bank-azure-store') / 'bank.db'}"
    running = WorkerSession(worker, app_folder, {"PORTAFN_STORE": url})
    try:
        with use_store(open_store(url)):
            yield running
    finally:
        running.close()


def _http(session: WorkerSession, method: str, path: str, body: Any = None) -> tuple[int, str, Any]:
    """Route like the host (route template and method), then invoke that function in the worker."""
    request = HttpRequest(
        method,
        path,
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    found = app.router.match(method, path)
    assert found.target is not None, path
    request.path_params = dict(found.params)
    metadata = {k: {"string": v} for k, v in request.path_params.items()}
    answer = session.invoke(found.target.name, typed_data(http_datum(request)), metadata)
    response = http_response(answer)
    return response.status, response.headers.get("content-type") or "", json.loads(response.body or b"null")


def test_the_worker_indexes_every_bank_function(session: WorkerSession) -> None:
    assert set(session.functions) == set(app.functions)


def test_the_bank_app_runs_commands_and_its_projector_under_the_worker(session: WorkerSession) -> None:
    assert _http(session, "POST", "/accounts", {"account_id": "a-1", "owner": "ada"})[0] == 201
    status, _, receipt = _http(session, "POST", "/accounts/a-1/deposits", {"amount_cents": 1000})
    assert (status, receipt["balance_cents"]) == (200, 1000)
    status, kind, problem = _http(session, "POST", "/accounts/a-1/withdrawals", {"amount_cents": 1500})
    assert (status, kind) == (409, "application/problem+json")
    assert (problem["type"], problem["balance_cents"], problem["requested_cents"]) == (
        "/problems/insufficient-funds",
        1000,
        1500,
    )
    status, _, receipt = _http(session, "POST", "/accounts/a-1/withdrawals", {"amount_cents": 300})
    assert (status, receipt["balance_cents"], receipt["version"]) == (200, 700, 3)
    assert _http(session, "GET", "/accounts/a-1")[0] == 404  # nothing projected yet

    # The three appended events as one Cosmos DB trigger batch (the documents as the store writes them).
    projector = app.functions["portafn_project_balances"]
    driver = AzureDriver(app)
    changes = [change for change, _ in pending_changes(accounts.table, None) if change is not None]
    documents = [doc for c in changes for doc in json.loads(driver.payload(projector, c).data.value)]
    assert [d["doc"]["version"] for d in documents] == [1, 2, 3]
    answer = session.invoke(projector.name, typed_data(Datum(json.dumps(documents), "json")), {})
    assert answer["status"] == "Success", answer.get("exception")

    status, _, view = _http(session, "GET", "/accounts/a-1")
    assert (status, view) == (200, {"account_id": "a-1", "owner": "ada", "balance_cents": 700, "version": 3})
