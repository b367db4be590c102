"""The GCP source served by a real functions-framework server (the Azure build: test_azure.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from portafn.dev.process import ManagedProcess, free_port, port_open
from portafn.package import PackageResult
from portafn.package.wheels import uv_executable
from tests.package.conftest import PYTHON, artifact


def _clean_env(*paths: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    return {**keep, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONNOUSERSITE": "1"}


def test_gcp_source_runs_under_functions_framework(gcp_build: PackageResult, tmp_path: Path) -> None:
    source = artifact(gcp_build, "source")
    site = tmp_path / "site"
    # What Cloud Build does with the source: install requirements.txt (this machine is the target).
    subprocess.run(
        [
            uv_executable(),
            "pip",
            "install",
            "--target",
            str(site),
            "--python",
            sys.executable,
            "--python-version",
            PYTHON,
            "--only-binary",
            ":all:",
            "-r",
            "requirements.txt",
            "--quiet",
        ],
        cwd=source,
        check=True,
        env={**os.environ, "UV_CACHE_DIR": str(Path.cwd() / ".cache" / "wheels")},
    )
    port = free_port()
    server = ManagedProcess(
        "functions-framework",
        [
            sys.executable,
            "-S",
            "-m",
            "functions_framework",
            "--source",
            "main.py",
            "--target",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        ready=lambda: port_open(port),
        cwd=source,
        env={**_clean_env(source, site), "PORTAFN_STORE": "memory://"},
    )
    with server:
        body = json.dumps({"order_id": "o-7", "total_cents": 700}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/customers/c-7/orders",
            data=body,
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            order = json.loads(response.read())
    assert (order["customer_id"], order["order_id"], order["total_cents"]) == ("c-7", "o-7", 700)


def test_gcp_deploy_script_and_indexes(gcp_build: PackageResult) -> None:
    script = artifact(gcp_build, "deploy.sh").read_text()
    assert "--entry-point=http --trigger-http" in script
    assert "--entry-point=on_order_event --trigger-topic=order-events --retry" in script
    assert "gcloud scheduler jobs create pubsub orders-nightly" in script
    assert "'--schedule=0 2 * * *'" in script
    assert "type=google.cloud.firestore.document.v1.written" in script
    indexes = json.loads(artifact(gcp_build, "firestore.indexes.json").read_text())["indexes"]
    assert {i["collectionGroup"] for i in indexes} == {"orders", "nightly_runs", "order_activity"}
    bash = subprocess.run(
        ["bash", "-n", str(artifact(gcp_build, "deploy.sh"))], capture_output=True, check=False
    )
    assert bash.returncode == 0, bash.stderr
