"""The benchmark command, run in --quick mode: it must finish and write a complete, well-formed
table. Timings are never asserted here; goals live in benchmarks/RESULTS.md as ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SECTIONS = {
    "Goals (ratios to a peer measured in the same run)": [],
    "Cold start as deployed: import + first request, read-only task folder (the zip's .pyc only)": [
        "portafn",
        "native",
        "powertools",
    ],
    "Cold start: import + first request (bytecode cached)": ["portafn", "native", "powertools"],
    "Cold start on Azure and GCP: load the function module + first request (bytecode cached)": [
        "Azure: portafn",
        "Azure: native",
        "GCP: portafn",
        "GCP: native",
    ],
    "Warm invocation: cost per request": [
        "AWS, store stubbed: portafn",
        "AWS, store stubbed: native",
        "AWS, store stubbed: powertools",
        "AWS, store stubbed: portafn on its memory store (a test stand-in)",
        "AWS, DynamoDB Local: portafn",
        "AWS, DynamoDB Local: native",
        "AWS, DynamoDB Local: powertools",
        "Azure, store stubbed: portafn",
        "Azure, store stubbed: native",
        "GCP, store stubbed: portafn",
        "GCP, store stubbed: native",
    ],
    "Store overhead: portafn table vs raw SDK, same local server": [
        f"{store}: {who}"
        for store in ("DynamoDB Local", "Cosmos (cosmosdb-server)", "Firestore emulator")
        for who in ("portafn", "raw")
    ],
    "Artifact sizes: the orders sample, `portafn package`": ["aws", "azure", "gcp"],
}


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Each ``## heading``'s table rows (header and separator dropped), cells stripped."""
    out: dict[str, list[list[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        elif current is not None and line.startswith("|") and not line.startswith("|---"):
            out[current].append([c.strip() for c in line.strip().strip("|").split("|")])
    return {k: rows[1:] for k, rows in out.items()}  # rows[0] is the header


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_run_writes_a_complete_table(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "QUICK MODE" in text
    for field in ("CPU", "cores", "memory", "Python", "date"):
        assert re.search(rf"^\| {field} \| \S", text, re.M), f"machine field {field} missing"
    tables = _tables(text)
    for title, contenders in SECTIONS.items():
        assert title in tables, f"section {title!r} missing; have {list(tables)}"
        rows = tables[title]
        widths = {len(r) for r in rows}
        assert len(widths) == 1, f"{title}: rows of different widths {widths}"
        names = [r[0] for r in rows]
        assert names == contenders or not contenders, f"{title}: rows {names}"
        for row in rows:
            assert all(cell for cell in row[:2]), f"{title}: empty cell in {row}"
            assert not any("not measured" in c or "failed" in c for c in row), f"{title}: {row}"
    goals = tables["Goals (ratios to a peer measured in the same run)"]
    assert len(goals) == 29
    for label, measured, _goal, verdict in goals:
        assert re.fullmatch(r"[0-9.]+(x| MB)", measured), (label, measured)
        assert verdict == "met" or verdict.startswith("missed by "), (label, verdict)
    # Every ratio cell is a number followed by x.
    for title in SECTIONS:
        for row in tables[title]:
            for cell in row:
                if cell.endswith("x") and cell[:-1].replace(".", "").isdigit():
                    assert float(cell[:-1]) > 0
