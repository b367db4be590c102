"""What every benchmark module shares: timing, statistics, the machine, progress and result rows."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"


@dataclass(frozen=True, slots=True)
class Settings:
    """Iteration counts for one run; ``quick`` shrinks them to keep the smoke test short."""

    quick: bool
    cold_runs: int
    cold_runs_nopyc: int
    warm_requests: int
    warm_requests_store: int
    warm_blocks: int
    store_ops: int
    batch_items: int
    query_items: int
    # The Cosmos server answers one call in tens of milliseconds: fewer calls keep the run short.
    cosmos_ops: int
    cosmos_batch_items: int

    @classmethod
    def make(cls, quick: bool) -> Settings:
        """The full settings, or the tiny ``--quick`` ones."""
        if quick:
            return cls(True, 2, 1, 40, 6, 2, 6, 100, 20, 4, 10)
        return cls(False, 20, 8, 2000, 300, 10, 200, 10_000, 20, 60, 200)


@dataclass(slots=True)
class Row:
    """One contender in one measurement: its name, its cells, and the name of the peer it is compared to."""

    contender: str
    cells: dict[str, str]


@dataclass(slots=True)
class Section:
    """One table of RESULTS.md: a heading, a note on method, the column names and the rows."""

    key: str
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, contender: str, **cells: str) -> None:
        """Append a row; cells are keyed by column name (missing ones are left blank)."""
        self.rows.append(Row(contender, dict(cells)))

    def markdown(self) -> str:
        """The section as a Markdown heading, table and notes."""
        head = ["contender", *self.columns]
        lines = [f"## {self.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            cells = [row.contender, *(row.cells.get(c, "") for c in self.columns)]
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines.extend(self.notes)
        return "\n".join(lines)


def progress(message: str) -> None:
    """A progress line on stderr (stdout stays free for the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    """The 90th percentile (nearest rank), so it is always a measured value."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * 9 // 10))  # ceil(0.9 n)
    return ordered[rank - 1]


def ms(ns: float) -> str:
    """Nanoseconds as milliseconds, 1 decimal (2 below 10 ms)."""
    value = ns / 1e6
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def us(ns: float) -> str:
    """Nanoseconds as microseconds."""
    value = ns / 1e3
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(value: float, peer: float) -> str:
    """``value / peer`` as ``1.23x``."""
    return f"{value / peer:.2f}x" if peer else "n/a"


def mib(n_bytes: float) -> str:
    """Bytes as MiB, 2 decimals."""
    return f"{n_bytes / 2**20:.2f}"


def timed_blocks(
    contenders: dict[str, Callable[[int], None]], *, blocks: int, per_block: int, warmup: int
) -> dict[str, list[float]]:
    """Per-item nanoseconds of each contender, measured in interleaved blocks (ABAB...).

    Each contender is a callable running ``n`` items. It first runs ``warmup`` items unmeasured;
    then for every block, every contender runs ``per_block`` items in turn, so slow drift of the
    machine (frequency, caches, other load) falls on all of them alike. Returns each contender's
    per-item time of every block.
    """
    for run in contenders.values():
        run(warmup)
    out: dict[str, list[float]] = {name: [] for name in contenders}
    for block in range(blocks):
        order = list(contenders.items())
        if block % 2:
            order.reverse()  # ABBA: neither contender always goes first after the other
        for name, run in order:
            start = time.perf_counter_ns()
            run(per_block)
            out[name].append((time.perf_counter_ns() - start) / per_block)
    return out


def machine() -> dict[str, str]:
    """CPU model, cores, memory, OS, Python, and the date of this run."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except (OSError, ValueError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    load = "unknown"
    with contextlib.suppress(OSError):
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    return {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average (1/5/15 min) at the end": load,
    }
