"""Run a built Azure function app under the real Azure Functions Python worker, in one batch.

The worker is prepared by ``portafn_azure.dev.worker`` (where it comes from, and where its venv
and stubs are cached, is said there); ``run`` drives the shared loopback host's batch mode
(``host.py``: index, load, then a list of invocations). The contract driver's worker mode keeps
one worker up across calls instead (``portafn_azure.dev.worker_session``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from portafn_azure.dev.worker import PREPARED, Worker, WorkerUnavailable

__all__ = ["Worker", "WorkerUnavailable", "prepare", "run", "step", "unavailable"]

RUN_TIMEOUT = 300.0


def unavailable(reason: str) -> None:
    """Skip with ``reason``, as in a user's clone; under CI (``CI`` set) fail instead, since CI runs
    beside shared/ and a missing runtime there is a broken set-up (tests/support/fixtures.py)."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the Azure Functions worker: {reason}", pytrace=False)
    pytest.skip(reason)


def prepare() -> Worker:
    """The worker, prepared once per process (``portafn_azure.dev.worker``)."""
    return PREPARED.get()


def run(
    worker: Worker,
    app_dir: Path,
    out: Path,
    invocations: list[dict[str, Any]],
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Index, load and invoke ``app_dir`` under the worker; the host's ``results.json`` as a dict.

    Only ``invocations`` are sent (the host's built-in scenario is off), so the caller owns every
    expectation. The host's exit status is not checked here: the results say what failed.
    """
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "invocations.json"
    spec.write_text(json.dumps(invocations))
    results = out / "results.json"
    cmd = [
        str(worker.python),
        str(worker.host_script),
        "--worker-dir",
        str(worker.worker_dir),
        "--app",
        str(app_dir),
        "--scenario",
        "none",
        "--invocations",
        str(spec),
        "--out",
        str(results),
    ]
    for name, value in (settings or {}).items():
        cmd += ["--set", f"{name}={value}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, cwd=out)
    if not results.is_file():
        raise RuntimeError(f"host.py wrote no results ({proc.returncode}):\n{proc.stderr[-4000:]}")
    data: dict[str, Any] = json.loads(results.read_text())
    return data


def step(results: dict[str, Any], name: str) -> dict[str, Any]:
    """The step called ``name`` in the host's results."""
    for entry in results["steps"]:
        if entry["step"] == name:
            found: dict[str, Any] = entry
            return found
    raise AssertionError(f"no step {name!r} among {[s['step'] for s in results['steps']]}")
