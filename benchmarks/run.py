"""The one benchmark command: ``uv run python -m benchmarks.run [--quick] [--out PATH]``.

Builds the orders sample for every provider, starts DynamoDB Local, the Cosmos DB server and the
Firestore emulator, measures cold start, warm invocation, store overhead and artifact sizes side
by side with their peers, and writes one Markdown report (default ``benchmarks/RESULTS.md``) with
the machine noted and every goal of the issue as a ratio: met, or missed and by how much.
``--quick`` runs tiny iteration counts (for CI and the smoke test): its numbers mean nothing.
Progress goes to stderr; the report is also printed to stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import artifacts, coldstart, coldstart_hosts, stores, warm
from benchmarks.common import Section, Settings, machine, progress

DEFAULT_OUT = Path(__file__).resolve().parent / "RESULTS.md"
WHY = Path(__file__).resolve().parent / "WHY.md"  # the hand-written analysis of missed goals


def _cell(sections: dict[str, Section], key: str, contender: str, column: str) -> float | None:
    section = sections.get(key)
    if section is None:
        return None
    for row in section.rows:
        if row.contender == contender:
            match = re.match(r"^\s*([0-9.]+)", row.cells.get(column, ""))
            return float(match.group(1)) if match else None
    return None


def _ratio(sections: dict[str, Section], key: str, column: str, contender: str, peer: str) -> float | None:
    """``contender``'s cell over ``peer``'s in one column of one section."""
    value, base = _cell(sections, key, contender, column), _cell(sections, key, peer, column)
    return value / base if value is not None and base else None


def goals(sections: dict[str, Section]) -> Section:
    """The issue's goals against what was measured."""
    sec = Section(
        "goals", "Goals (ratios to a peer measured in the same run)", ["measured", "goal", "verdict"]
    )

    def check(label: str, value: float | None, goal: float, at_most: bool, unit: str = "x") -> None:
        if value is None:
            sec.add(
                label, measured="not measured", goal=f"{'<=' if at_most else '>='} {goal}{unit}", verdict="-"
            )
            return
        ok = value <= goal if at_most else value >= goal
        verdict = "met" if ok else f"missed by {abs(value / goal - 1) * 100:.0f}%"
        sec.add(
            label,
            measured=f"{value:.2f}{unit}",
            goal=f"{'<=' if at_most else '>='} {goal}{unit}",
            verdict=verdict,
        )

    for mode, name in (("nopyc", "as deployed"), ("cached", "bytecode cached")):
        key = f"cold_{mode}"
        check(f"cold start vs native ({name})", _cell(sections, key, "portafn", "vs native"), 1.05, True)
        check(
            f"cold start vs Powertools ({name})", _cell(sections, key, "portafn", "vs powertools"), 0.85, True
        )
        check(
            f"first request vs native's first ({name})",
            _ratio(sections, key, "first request ms", "portafn", "native"),
            3.0,
            True,
        )
        check(
            f"peak RSS at cold start vs native ({name})",
            _ratio(sections, key, "peak RSS MiB", "portafn", "native"),
            1.1,
            True,
        )
    for host in ("Azure", "GCP"):
        check(
            f"first request vs native's first ({host}, module loaded as the worker does)",
            _ratio(sections, "cold_hosts", "first request ms", f"{host}: portafn", f"{host}: native"),
            3.0,
            True,
        )
        check(
            f"peak RSS at cold start vs native ({host})",
            _ratio(sections, "cold_hosts", "peak RSS MiB", f"{host}: portafn", f"{host}: native"),
            1.1,
            True,
        )
    for label, peer_goal in (("AWS", 0.25), ("Azure", None), ("GCP", None)):
        row = f"{label}, store stubbed: portafn"
        check(
            f"warm vs native ({label}, store stubbed)", _cell(sections, "warm", row, "vs native"), 2.0, True
        )
        if peer_goal is not None:
            check(
                f"warm vs Powertools ({label}, store stubbed)",
                _cell(sections, "warm", row, "vs powertools"),
                peer_goal,
                True,
            )
    for label in stores.LABEL.values():
        for op, col in (("put", "put vs raw"), ("get", "get vs raw"), ("query", "query vs raw")):
            check(f"{label} {op} vs raw SDK", _cell(sections, "stores", f"{label}: portafn", col), 1.10, True)
        check(
            f"{label} batch throughput vs loop",
            _cell(sections, "stores", f"{label}: portafn", "batch throughput vs raw"),
            0.9,
            False,
        )
    lam = _cell(sections, "artifacts", "aws", "zipped MiB")
    check("Lambda zip size (MB)", lam * 2**20 / 1e6 if lam is not None else None, 5.0, True, " MB")
    return sec


def render(settings: Settings, sections: dict[str, Section], elapsed: float) -> str:
    """The whole report as Markdown."""
    info = machine()
    lines = [
        "# portafn benchmarks",
        "",
        "Written by `uv run python -m benchmarks.run"
        + (
            " --quick`: QUICK MODE, tiny iteration counts; these numbers mean nothing."
            if settings.quick
            else "`."
        ),
        "Every number is measured side by side with its peer in the same run; compare ratios, not absolute times.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in info.items()),
        f"| run took | {elapsed:.0f} s |",
        "",
    ]
    order = ["goals", "cold_nopyc", "cold_cached", "cold_hosts", "warm", "stores", "artifacts"]
    for key in order:
        if key in sections:
            lines.append(sections[key].markdown())
            lines.append("")
    lines.append(WHY.read_text().strip())
    lines.append("")
    return "\n".join(lines)


def _start(name: str) -> tuple[object | None, str | None]:
    from portafn.dev import servers

    try:
        return servers.start(name), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark and write the report."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny iteration counts (CI smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the Markdown report")
    args = parser.parse_args(argv)
    settings = Settings.make(args.quick)
    started = time.monotonic()
    sections: dict[str, Section] = {}
    running: list[object] = []
    try:
        with tempfile.TemporaryDirectory(prefix="portafn-bench-") as tmp:
            section, archives = artifacts.build(Path(tmp))
            sections["artifacts"] = section

            progress("starting DynamoDB Local")
            ddb, error = _start("dynamodb")
            if ddb is None:
                raise SystemExit(f"benchmarks: DynamoDB Local did not start: {error}")
            running.append(ddb)
            ddb_env = {**ddb.env}  # type: ignore[attr-defined]
            os.environ.update(ddb_env)
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ddb.endpoint  # type: ignore[attr-defined]
            if "aws" in archives:
                for sec in coldstart.run(settings, archives["aws"], ddb_env, ddb.endpoint):  # type: ignore[attr-defined]
                    sections[sec.key] = sec
            sections["cold_hosts"] = coldstart_hosts.run(settings)
            sections["warm"] = warm.run(settings, ddb_env)

            results: dict[str, dict[str, dict[str, float]] | str] = {}
            results["dynamodb"] = stores.measure("dynamodb", ddb, settings)
            for kind in ("cosmos", "firestore"):
                progress(f"starting {kind}")
                server, error = _start(kind)
                if server is None:
                    results[kind] = f"server did not start: {error}"
                    continue
                running.append(server)
                os.environ.update({k: v for k, v in server.env.items() if k != "PORTAFN_STORE"})  # type: ignore[attr-defined]
                try:
                    results[kind] = stores.measure(kind, server, settings)
                except ImportError as exc:
                    results[kind] = f"adapter not importable: {exc}"
            sections["stores"] = stores.section(results, settings)
    finally:
        for server in reversed(running):
            server.stop()  # type: ignore[attr-defined]
    sections["goals"] = goals(sections)
    report = render(settings, sections, time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    print(report)
    progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
