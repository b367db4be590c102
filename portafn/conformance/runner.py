"""Planning and running the conformance suite, and its report."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from portafn.conformance.cases import CASES, UNCLAIMED, Case
from portafn.conformance.harness import Harness
from portafn.store.capabilities import REFINES, Capabilities, Capability
from portafn.store.errors import Unsupported
from portafn.store.port import Store
from portafn.store.registry import open_store, use_store

Mode = Literal["run", "unsupported", "gap"]
Outcome = Literal["passed", "failed", "local gap"]
CORE = "core"


@dataclass(frozen=True, slots=True)
class Planned:
    """One row of the plan: a case to run, an unclaimed capability to check, or a local gap."""

    id: str
    capability: str
    test: str
    mode: Mode
    description: str
    case: Case | None = None
    unclaimed: Capability | None = None
    reason: str | None = None


@dataclass(slots=True)
class Result:
    """The outcome of one planned row."""

    capability: str
    test: str
    result: Outcome
    seconds: float
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "capability": self.capability,
            "test": self.test,
            "result": self.result,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass(slots=True)
class Report:
    """What a conformance run found: the store's declaration and one result per planned row."""

    store: str
    url: str
    capabilities: Capabilities
    prefix: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed (local gaps are shown, not failures)."""
        return all(r.result != "failed" for r in self.results)

    def counts(self) -> dict[str, int]:
        """How many rows had each outcome."""
        out = {"passed": 0, "failed": 0, "local gap": 0}
        for r in self.results:
            out[r.result] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``--json`` writes)."""
        return {
            "store": self.store,
            "url": self.url,
            "prefix": self.prefix,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "capabilities": self.capabilities.as_dict(),
            "claimed": {c.value: self.capabilities.has(c) for c in Capability},
            "summary": self.counts(),
            "results": [r.as_dict() for r in self.results],
        }

    def write_json(self, path: str | Path) -> None:
        """Write ``as_dict()`` to ``path``."""
        Path(path).write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n")

    def table(self) -> str:
        """The human-readable report: the declaration, then capability / test / result rows."""
        caps = self.capabilities
        lines = [
            f"portafn conformance: {self.store} ({self.url})",
            "claimed: " + (", ".join(sorted(c.value for c in caps.supported)) or "nothing beyond the core"),
            f"limits: transaction {caps.max_transaction_items} ops, batch write {caps.batch_write_size}, "
            f"batch get {caps.batch_get_size}, item {caps.max_item_bytes} bytes",
        ]
        for cap, why in caps.local_gaps.items():
            lines.append(f"local gap: {cap.value}: {why}")
        rows = [("CAPABILITY", "TEST", "RESULT", "TIME", "DETAIL")]
        for r in self.results:
            rows.append((r.capability, r.test, r.result, f"{r.seconds:.2f}s", _one_line(r.detail or "")))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines.append("")
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        n = self.counts()
        lines.append("")
        lines.append(
            f"{n['passed']} passed, {n['failed']} failed, {n['local gap']} local gaps in {self.seconds:.1f}s"
            + ("" if self.ok else "  (FAILED)")
        )
        return "\n".join(line.rstrip() for line in lines)


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 160 else first[:157] + "..."


def _label(capability: Capability | None) -> str:
    return capability.value if capability is not None else CORE


def plan(capabilities: Capabilities) -> list[Planned]:
    """The rows a store with these capabilities gets: every core case; each claimed capability's
    cases (or a ``local gap`` row per case where the store names one); and, for each unclaimed
    capability, a check that using it raises ``Unsupported``."""
    rows: list[Planned] = []
    for c in CASES:
        cap = c.capability
        label = _label(cap)
        if cap is None or capabilities.has(cap):
            gap = capabilities.local_gaps.get(cap) if cap is not None else None
            mode: Mode = "gap" if gap else "run"
            rows.append(Planned(f"{_slug(label)}/{c.name}", label, c.name, mode, c.doc, case=c, reason=gap))
    for cap in Capability:
        if not capabilities.has(cap):
            rows.append(
                Planned(
                    f"{_slug(cap.value)}/unclaimed_raises_unsupported",
                    cap.value,
                    "unclaimed_raises_unsupported",
                    "unsupported",
                    f"the store does not claim {cap.value}: using it raises Unsupported",
                    unclaimed=cap,
                )
            )
    return rows


def plan_case(capabilities: Capabilities, case: Case) -> Planned:
    """The one row ``case`` becomes for a store with these capabilities: run it (core, or claimed);
    a ``gap`` row where the store names a local gap for its capability; or, where the capability is
    not claimed, the check that using it raises ``Unsupported``. A pytest suite parametrized over
    ``CASES`` gets both directions of the check from this without knowing the store in advance."""
    cap = case.capability
    if cap is None or capabilities.has(cap):
        label = _label(cap)
        gap = capabilities.local_gaps.get(cap) if cap is not None else None
        mode: Mode = "gap" if gap else "run"
        return Planned(f"{_slug(label)}/{case.name}", label, case.name, mode, case.doc, case=case, reason=gap)
    return Planned(
        f"{_slug(cap.value)}/{case.name}_unclaimed_raises_unsupported",
        cap.value,
        "unclaimed_raises_unsupported",
        "unsupported",
        f"the store does not claim {cap.value}: using it raises Unsupported",
        unclaimed=cap,
    )


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").replace("__", "_")


def execute(harness: Harness, row: Planned) -> Result:
    """Run one planned row against the harness's store and return its result (never raises)."""
    start = time.perf_counter()
    if row.mode == "gap":
        return Result(row.capability, row.test, "local gap", 0.0, row.reason)
    try:
        with use_store(harness.store):
            detail = _run_row(harness, row)
        outcome: Outcome = "passed"
    except AssertionError as exc:
        outcome, detail = "failed", str(exc) or "assertion failed"
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].name}:{tb[-1].lineno}" if tb else ""
        outcome, detail = "failed", f"{type(exc).__name__}: {exc}{where}"
    return Result(row.capability, row.test, outcome, time.perf_counter() - start, detail)


def _run_row(harness: Harness, row: Planned) -> str | None:
    if row.mode == "unsupported":
        assert row.unclaimed is not None
        try:
            UNCLAIMED[row.unclaimed](harness)
        except Unsupported as exc:
            named = {row.unclaimed.value} | (
                {REFINES[row.unclaimed].value} if row.unclaimed in REFINES else set()
            )
            if harness.store.name not in str(exc) or not any(n in str(exc) for n in named):
                raise AssertionError(f"Unsupported must name the store and the capability: {exc}") from None
            return str(exc)
        raise AssertionError(f"{row.unclaimed.value} is not claimed, yet using it did not raise Unsupported")
    assert row.case is not None
    return row.case.fn(harness)


def run(
    store: str | Store,
    *,
    prefix: str | None = None,
    only: Callable[[Planned], bool] | None = None,
    progress: Callable[[Result], None] | None = None,
) -> Report:
    """Run the conformance suite against a store URL (or an open ``Store``).

    Tables are named ``<prefix>_<kind>`` (a fresh random prefix by default) and cleared at the end.
    ``only`` selects rows; ``progress`` is called with each result as it comes.
    """
    opened = isinstance(store, str)
    target = open_store(store) if isinstance(store, str) else store
    harness = Harness(target, prefix)
    report = Report(target.name, redact(target.url), target.capabilities, harness.prefix)
    started = time.perf_counter()
    try:
        for row in plan(target.capabilities):
            if only is not None and not only(row):
                continue
            result = execute(harness, row)
            report.results.append(result)
            if progress is not None:
                progress(result)
    finally:
        harness.cleanup()
        if opened:
            target.close()
    report.seconds = time.perf_counter() - started
    return report


def redact(url: str) -> str:
    """A store URL safe to print: no password, and query values hidden (keys may sit there)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc and not parts.query and not parts.fragment:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(p.split("=", 1)[0] + "=***" if "=" in p else p for p in parts.query.split("&") if p)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
