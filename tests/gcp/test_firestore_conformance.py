"""``portafn conformance firestore://...`` against Google's Firestore emulator, as CI runs it: every
claimed capability passes, every unclaimed one raises ``Unsupported``, and the emulator's TTL gap
is reported, not hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portafn.dev.servers import RunningServer


@pytest.mark.slow
def test_firestore_passes_the_conformance_suite(firestore_server: RunningServer, tmp_path: Path) -> None:
    assert firestore_server.store_url is not None
    report_path = tmp_path / "report.json"
    cli = Path(sys.executable).parent / "portafn"
    out = subprocess.run(
        [str(cli), "conformance", firestore_server.store_url, "--json", str(report_path), "-q"],
        env={**os.environ, **firestore_server.env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert report_path.exists(), out.stdout + out.stderr
    report = json.loads(report_path.read_text())
    failed = [f"{r['test']}: {r['detail']}" for r in report["results"] if r["result"] == "failed"]
    assert not failed, out.stdout
    assert out.returncode == 0, out.stdout + out.stderr
    assert {r["capability"] for r in report["results"] if r["result"] == "local gap"} == {"ttl"}
    assert report["summary"]["passed"] >= 25
