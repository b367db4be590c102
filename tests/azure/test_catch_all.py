"""Catch-all routes on Azure: ``{path+}`` is registered as Azure's ``{*path}`` and answers under the
real worker with the rest of the path, slashes included."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portafn_azure.dev.worker_driver import AzureWorkerDriver
from portafn_azure.entry import azure_route, function_app

from portafn.store.registry import open_store, use_store
from portafn.testing import Client
from tests.azure import worker_host

APP = """
from portafn import App

app = App("files")


@app.http("GET", "/files/{path+}")
def read_file(path: str) -> dict[str, str]:
    return {"path": path}
"""


@pytest.mark.parametrize(
    ("template", "route"),
    [
        ("/files/{path+}", "files/{*path}"),
        ("/t/{tenant}/blobs/{key+}", "t/{tenant}/blobs/{*key}"),
        ("/customers/{customer_id}", "customers/{customer_id}"),
        ("/", ""),
    ],
)
def test_catch_all_becomes_azures_syntax(template: str, route: str) -> None:
    assert azure_route(template) == route


@pytest.fixture
def files_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # A single-module app on sys.path, so `portafn package` builds it as it would a user's.
    (tmp_path / "catch_all_files.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("catch_all_files").app
    sys.modules.pop("catch_all_files", None)


def test_the_indexed_route_is_the_catch_all(files_app: Any) -> None:
    (fn,) = function_app(files_app).get_functions()
    trigger = json.loads(fn.get_function_json())["bindings"][0]
    assert trigger["route"] == "files/{*path}"


@pytest.mark.emulator
def test_catch_all_answers_under_the_worker(files_app: Any, tmp_path: Path) -> None:
    try:
        worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
    store = open_store(f"sqlite:///{tmp_path}/files.db")
    with use_store(store):
        driver = AzureWorkerDriver(files_app)
        client = Client(files_app, driver)
        resp = client.get("/files/reports/2025/q1.csv")
        assert resp.status == 200, resp.text()
        assert resp.json() == {"path": "reports/2025/q1.csv"}
        assert driver.session().functions["read_file"]["trigger"]["route"] == "files/{*path}"
        assert client.get("/files").status == 404  # a catch-all needs at least one segment
    store.close()
