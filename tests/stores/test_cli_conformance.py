"""``portafn conformance`` as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portafn.cli.main import main
from portafn.conformance.cases import CASES

PORTAFN = Path(sys.executable).with_name("portafn")


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PORTAFN), "conformance", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_conformance_command_passes_and_writes_json(kind: str, tmp_path: Path) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'cli.db'}"
    out = tmp_path / "report.json"
    proc = conformance(url, "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"portafn conformance: {kind} ({url})"
    assert any(line.split()[:2] == ["CAPABILITY", "TEST"] for line in lines)
    assert any("concurrent_increments_no_lost_update" in line and "passed" in line for line in lines)
    # Every case runs on these stores: they claim every capability.
    n = len(CASES)
    assert lines[-1].startswith(f"{n} passed, 0 failed, 0 local gaps")
    report = json.loads(out.read_text())
    assert report["ok"] is True
    assert report["store"] == kind
    assert report["summary"] == {"passed": n, "failed": 0, "local gap": 0}
    assert {r["capability"] for r in report["results"]} >= {"core", "transactions", "ttl", "change source"}
    assert report["capabilities"]["batch_write_size"] == 25


def test_unknown_store_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "nosuch://x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portafn: no store for nosuch://")
    assert len(err.strip().splitlines()) == 1


def test_select_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "memory://", "-k", "query_", "-q"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("7 passed, 0 failed")
    assert main(["conformance", "memory://", "-k", "no-such-case"]) == 1


def test_matrix_is_generated_from_declarations() -> None:
    from portafn.conformance.matrix import render_markdown
    from portafn.store.memory import MemoryStore

    text = render_markdown({"memory": MemoryStore.capabilities})
    assert "| capability | `memory://` |" in text
    assert "| transactions | yes |" in text
    assert "| batch write size | 25 |" in text
    full = render_markdown()
    assert "`sqlite://`" in full
