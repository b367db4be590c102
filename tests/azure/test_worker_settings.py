"""Settings and a Key Vault-backed secret under the real Azure Functions Python worker.

On Azure the platform resolves an app setting's Key Vault reference with the managed identity and
starts the worker with the value in its environment; the loopback host starts the worker with the
same settings (``--set``), and the app reads them like any setting, never logging the secret.
The reference itself is checked in ``tests/package/test_settings_emitted.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from portafn.package import package
from tests.azure import worker_host
from tests.azure.worker_host import Worker, step

pytestmark = pytest.mark.emulator

TOKEN = "kv-secret-9a7c51e3d08f"
HELLO: dict[str, Any] = {
    "name": "hello",
    "function": "hello",
    "kind": "http",
    "method": "GET",
    "path": "hello",
    "params": {},
    "expect": {"status": 200},
}


@pytest.fixture(scope="module")
def worker() -> Worker:
    try:
        return worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
        raise


def test_the_worker_serves_settings_and_never_logs_the_secret(
    worker: Worker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("azure-settings")
    package("tests.azure.settings_app:app", "azure", out / "dist", python=worker.python_version())
    results = worker_host.run(
        worker,
        out / "dist" / "functionapp",
        out / "run",
        [HELLO],
        settings={"GREETING": "hello from app settings", "TOKEN": TOKEN, "PORTAFN_STORE": "memory://"},
    )
    answer = step(results, "invoke hello")
    assert answer["ok"], answer.get("problems") or answer.get("exception")
    assert answer["return_value"]["status"] == "200"
    assert json.loads(answer["return_value"]["body"]) == {
        "greeting": "hello from app settings",
        "token_length": len(TOKEN),
    }
    # Every log line the worker sent the host for the run, and every other step, lacks the value.
    assert answer.get("logs")
    assert TOKEN not in json.dumps(results["steps"])  # the host echoes the settings it was given elsewhere
