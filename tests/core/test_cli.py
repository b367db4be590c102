"""The ``portafn`` command: routes, invoke, and serve as a real subprocess over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portafn.cli.main import main
from portafn.dev.process import ManagedProcess, free_port, port_open

ROOT = Path(__file__).resolve().parents[2]


def test_routes_lists_every_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "samples.orders.app:app"]) == 0
    out = capsys.readouterr().out
    assert "POST /customers/{customer_id}/orders" in out
    assert "queue order-events" in out
    assert "cron 0 2 * * * (UTC)" in out
    assert "changes of table orders" in out


def test_routes_unknown_app_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "samples.nope:app"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portafn: cannot import 'samples.nope'")
    assert "Traceback" not in err


def test_a_registration_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "badreg.py").write_text(
        "from portafn import App\napp = App('bad')\n\n"
        "@app.http('GET', '/x/{id}')\ndef f(other: str) -> None: ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["routes", "badreg:app"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portafn: ")
    assert "RegistrationError" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_provider_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", "samples.orders.app:app", "--provider", "nowhere", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no portafn provider 'nowhere'" in err
    assert len(err.strip().splitlines()) == 1


def test_invoke_http_and_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAFN_STORE", "memory://")
    from portafn.store.registry import set_default_store

    set_default_store(None)
    try:
        create = tmp_path / "create.json"
        create.write_text(
            json.dumps({"path": "/customers/c1/orders", "body": {"order_id": "o1", "total_cents": 250}})
        )
        assert main(["invoke", "samples.orders.app:app", "create_order", "--event", str(create)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == 201
        assert json.loads(out["body"])["total_cents"] == 250

        paid = tmp_path / "paid.json"
        paid.write_text(json.dumps({"data": {"customer_id": "c1", "order_id": "o1", "status": "paid"}}))
        assert main(["invoke", "samples.orders.app:app", "on_order_event", "--event", str(paid)]) == 0
        assert json.loads(capsys.readouterr().out) == {"ok": True, "result": None}

        get = tmp_path / "get.json"
        get.write_text(json.dumps({"path": "/customers/c1/orders/o1"}))
        assert main(["invoke", "samples.orders.app:app", "get_order", "--event", str(get)]) == 0
        assert json.loads(json.loads(capsys.readouterr().out)["body"])["status"] == "paid"
    finally:
        set_default_store(None)


def test_invoke_bad_event_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert main(["invoke", "samples.orders.app:app", "on_order_event", "--event", str(bad)]) == 2
    assert "is not JSON" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    db = tmp_path_factory.mktemp("serve") / "orders.db"
    proc = ManagedProcess(
        "portafn-serve",
        [
            sys.executable,
            "-m",
            "portafn.cli.main",
            "serve",
            "samples.orders.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        ready=lambda: port_open(port),
        cwd=ROOT,
        env={
            "PORTAFN_STORE": f"sqlite:///{db}",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        },
        log_dir=tmp_path_factory.mktemp("logs"),
        startup_timeout=30,
    )
    with proc:
        yield f"http://127.0.0.1:{port}"


def call(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_serve_drives_the_sample_over_real_http(served: str) -> None:
    status, headers, body = call(
        served, "POST", "/customers/alice/orders", {"order_id": "o-1", "total_cents": 1200}
    )
    assert status == 201, body
    assert headers["Location"] == "/customers/alice/orders/o-1"
    assert call(served, "POST", "/customers/alice/orders", {"order_id": "o-2", "total_cents": 5})[0] == 201

    status, _, body = call(served, "POST", "/customers/alice/orders", {"order_id": "o-1", "total_cents": 1})
    assert status == 409
    status, _, body = call(served, "GET", "/customers/alice/orders/o-1")
    assert (status, json.loads(body)["total_cents"]) == (200, 1200)
    status, _, body = call(served, "GET", "/customers/alice/orders?limit=1")
    page = json.loads(body)
    assert [o["order_id"] for o in page["items"]] == ["o-1"]
    status, _, body = call(served, "GET", f"/customers/alice/orders?limit=1&cursor={page['cursor']}")
    assert [o["order_id"] for o in json.loads(body)["items"]] == ["o-2"]


def test_serve_answers_errors_as_problem_json(served: str) -> None:
    status, headers, body = call(
        served, "POST", "/customers/alice/orders", {"order_id": "", "total_cents": -1}
    )
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert {tuple(e["loc"]) for e in json.loads(body)["errors"]} == {
        ("body", "order_id"),
        ("body", "total_cents"),
    }
    status, headers, _ = call(served, "DELETE", "/customers/alice/orders")
    assert status == 405
    assert headers["Allow"] == "GET, POST"
    assert call(served, "GET", "/customers/alice/orders/missing")[0] == 404
    assert call(served, "GET", "/elsewhere")[0] == 404


def test_cli_module_runs_as_a_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "portafn.cli.main", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    for command in ("routes", "invoke", "serve", "dev"):
        assert command in out.stdout
