"""OpenAPI 3.1: generated from routes and models, valid, written by the CLI, served by serve."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from portafn import App, HttpResponse
from portafn.auth import APIKey
from portafn.cli.main import main
from portafn.cli.serve import make_server
from portafn.http import Header
from portafn.openapi import build


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    tags: list[str] = []


class Thing(NewThing):
    id: str


app = App("things")


@app.http("POST", "/things", auth=APIKey({"k": "o"}))
def create(body: NewThing) -> Thing:
    """Create a thing.

    It gets an id.
    """
    return Thing(id="t", **body.model_dump())


@app.http("GET", "/things/{tid}")
def get(tid: str, verbose: bool = False, tenant: Annotated[str, Header(name="X-Tenant")] = "t") -> Thing:
    return Thing(id=tid, name="n")


@app.http("GET", "/files/{path+}")
def files(path: str) -> bytes:
    return b""


@app.http("DELETE", "/things/{tid}")
def delete(tid: str) -> None:
    return None


@app.http("*", "/raw")
def raw() -> HttpResponse:
    return HttpResponse()


def test_the_document_is_valid_openapi_31() -> None:
    document = build(app)
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_operations_follow_the_binder() -> None:
    paths = build(app)["paths"]
    create_op = paths["/things"]["post"]
    assert (create_op["summary"], create_op["description"]) == ("Create a thing.", "It gets an id.")
    assert create_op["security"] == [{"apiKey_X_API_Key": []}]
    params = {p["name"]: (p["in"], p["required"]) for p in paths["/things/{tid}"]["get"]["parameters"]}
    assert params == {"tid": ("path", True), "verbose": ("query", False), "X-Tenant": ("header", False)}
    assert "/files/{path}" in paths  # a greedy parameter is one OpenAPI path parameter
    assert list(paths["/things/{tid}"]["delete"]["responses"]) == ["204", "default"]
    assert set(paths["/raw"]) >= {"get", "post", "delete"}


def test_models_are_shared_components() -> None:
    document = build(app)
    schemas = document["components"]["schemas"]
    assert {"NewThing", "Thing", "Problem"} <= set(schemas)
    ok = document["paths"]["/things/{tid}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}


def test_cli_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    assert main(["openapi", "samples.orders.app:app", "-o", str(out), "--version", "2.0.0"]) == 0
    document = json.loads(out.read_text())
    validate(document)
    assert document["info"] == {"title": "orders", "version": "2.0.0"}


@pytest.fixture
def served() -> Iterator[str]:
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_serve_answers_get_openapi_json(served: str) -> None:
    with urllib.request.urlopen(f"{served}/openapi.json", timeout=5) as resp:
        body: Any = json.load(resp)
        assert resp.headers["Content-Type"] == "application/json"
    validate(body)
    assert "/things" in body["paths"]


def test_packages_serve_nothing_unless_enabled() -> None:
    from portafn.testing import Client

    assert Client(app).get("/openapi.json").status == 404
