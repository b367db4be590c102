"""The portability report: tests x (provider, store), and the capabilities the app needs per store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portafn.app import App
from portafn.capcheck import check, required

_MARK = {"passed": "pass", "failed": "FAIL", "skipped": "skip"}


@dataclass
class MatrixReport:
    """Outcomes per test and cell, and per store the app's capability needs against its offer."""

    cells: dict[str, dict[str, str]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    capabilities: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, test: str, provider: str, store: str, outcome: str, when: str) -> None:
        """Note one cell's outcome (a failed setup counts as a failure of that cell)."""
        column = f"{provider}/{store}"
        if column not in self.columns:
            self.columns.append(column)
        row = self.cells.setdefault(test, {})
        if row.get(column) != "failed":
            row[column] = "failed" if outcome == "failed" else outcome

    def note_app(self, app: App, store_name: str, store: Any) -> None:
        """Record, once per store, what the app's tables need and what the store lacks."""
        if store_name in self.capabilities:
            return
        gaps = check(app, store.capabilities)
        self.capabilities[store_name] = {
            "needed": {t: sorted(c.value for c in needs) for t, needs in required(app).items()},
            "missing": [
                {"table": g.table, "capability": g.capability.value, "reason": g.reason} for g in gaps
            ],
            "local_gaps": {c.value: why for c, why in store.capabilities.local_gaps.items()},
        }

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {"columns": self.columns, "tests": self.cells, "capabilities": self.capabilities}

    def text_lines(self) -> list[str]:
        """The matrix as aligned text lines, then capability gaps per store."""
        columns = self.columns
        names = sorted(self.cells)
        width = max([len("test")] + [len(n) for n in names])
        lines = ["test".ljust(width) + "  " + "  ".join(c.ljust(max(len(c), 4)) for c in columns)]
        for name in names:
            row = self.cells[name]
            marks = [_MARK.get(row.get(c, ""), "-").ljust(max(len(c), 4)) for c in columns]
            lines.append(name.ljust(width) + "  " + "  ".join(marks))
        for store, info in sorted(self.capabilities.items()):
            missing = ", ".join(f"{m['table']}: {m['capability']}" for m in info["missing"]) or "none"
            lines.append(f"{store}: capabilities the app needs that the store lacks: {missing}")
            if info["local_gaps"]:
                gaps = "; ".join(f"{c} ({why})" for c, why in info["local_gaps"].items())
                lines.append(f"{store}: not shown by the local server: {gaps}")
        return lines

    def markdown(self) -> str:
        """The matrix as a Markdown table, for CI summaries."""
        head = "| test | " + " | ".join(self.columns) + " |"
        rule = "|---|" + "---|" * len(self.columns)
        rows = [
            f"| `{name}` | "
            + " | ".join(_MARK.get(self.cells[name].get(c, ""), "-") for c in self.columns)
            + " |"
            for name in sorted(self.cells)
        ]
        caps = ["", "| store | tables' needs it lacks | not shown locally |", "|---|---|---|"]
        for store, info in sorted(self.capabilities.items()):
            missing = ", ".join(f"{m['table']}: {m['capability']}" for m in info["missing"]) or "none"
            local = ", ".join(info["local_gaps"]) or "none"
            caps.append(f"| {store} | {missing} | {local} |")
        return "\n".join(["# portafn portability report", "", head, rule, *rows, *caps, ""])

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write report.json and report.md into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        json_path, md_path = directory / "report.json", directory / "report.md"
        json_path.write_text(json.dumps(self.as_dict(), indent=2, sort_keys=True))
        md_path.write_text(self.markdown())
        return json_path, md_path
