"""On Cloud Functions, portafn's log lines land where the platform collects them, and catch-all
routes answer, through the real functions-framework CLI.

Cloud Functions (and Cloud Run) send a function's stdout and stderr to Cloud Logging. The CLI
serves a small app from its own source file, and the test reads the server process's output:
each portafn line is one JSON object with the execution id the platform sent
(``Function-Execution-Id``) as its request id. On GCP, routing is portafn's own, in process, so a
catch-all ``{path+}`` route is matched there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portafn.dev.process import ManagedProcess
from tests.gcp.test_functions_framework_server import ROOT, call, functions_framework

SOURCE = f"""
import sys

sys.path.insert(0, {str(ROOT)!r})  # the CLI puts only this file's folder on sys.path

from portafn import App, Context
from portafn_gcp import targets

app = App("logs")


@app.http("GET", "/files/{{path+}}")
def read_file(path: str, ctx: Context) -> dict[str, str]:
    ctx.logger.info("file read", extra={{"path": path}})
    return {{"path": path}}


globals().update(targets(app))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ManagedProcess]]:
    source = tmp_path_factory.mktemp("ff-logs") / "main.py"
    source.write_text(SOURCE)
    proc = functions_framework("http", {"PORTAFN_STORE": "memory://"}, "--source", str(source)).start()
    try:
        yield f"http://127.0.0.1:{proc.port}", proc  # type: ignore[attr-defined]
    finally:
        proc.stop()


def lines_with(log: Path, message: str) -> list[dict[str, Any]]:
    """The JSON lines in the server's output whose message is ``message``. No wait is needed: the
    handler logs before it returns, stderr is line-buffered, and the answer comes after."""
    return [
        json.loads(raw)
        for raw in log.read_text(errors="replace").splitlines()
        if raw.startswith("{") and f'"{message}"' in raw
    ]


def test_the_log_line_is_json_on_the_process_output_with_the_execution_id(
    server: tuple[str, ManagedProcess],
) -> None:
    url, proc = server
    reply = call(f"{url}/files/reports/2025/q1.csv", headers={"Function-Execution-Id": "exec-7f3a"})
    assert reply.status == 200, reply.body
    [line] = [
        entry for entry in lines_with(proc.log_path, "file read") if entry.get("request_id") == "exec-7f3a"
    ]
    assert line["level"] == "INFO"
    assert line["path"] == "reports/2025/q1.csv"
    assert line["function"] == "read_file"


def test_a_catch_all_route_answers_through_the_cli(server: tuple[str, ManagedProcess]) -> None:
    url, _ = server
    assert call(f"{url}/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    assert call(f"{url}/files/one").json() == {"path": "one"}
    assert call(f"{url}/files").status == 404  # a catch-all needs at least one segment
