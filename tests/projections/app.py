"""A small projected app the projection tests use: a ledger stream kept as a total and as lines.

Each view has its own projection (and so its own checkpoints): on a store whose transactions stay
in one partition of one table, one event's writes must stay in one table.
"""

from __future__ import annotations

from pydantic import BaseModel

from portafn import App
from portafn.eventstore import EventStream, StoredEvent
from portafn.projections import Projection
from portafn.store.transaction import Transaction


class Posted(BaseModel):
    amount: int


class Total(BaseModel):
    """Not idempotent on purpose: applying an event twice shows in ``count`` and ``seen``."""

    stream_id: str
    total: int = 0
    count: int = 0
    seen: list[int] = []


class Line(BaseModel):
    stream_id: str
    version: int
    amount: int


app = App("projection-tests")
ledger: EventStream[Posted] = EventStream(app, "ledger", Posted)
totals = app.table(Total, partition_key="stream_id", name="ledger_totals")
lines = app.table(Line, partition_key="stream_id", sort_key="version", name="ledger_lines")


def add_to_total(tx: Transaction, stored: StoredEvent[Posted]) -> None:
    current = totals.get(stored.stream_id) or Total(stream_id=stored.stream_id)
    tx.put(
        totals,
        Total(
            stream_id=stored.stream_id,
            total=current.total + stored.event.amount,
            count=current.count + 1,
            seen=[*current.seen, stored.version],
        ),
    )


def add_line(tx: Transaction, stored: StoredEvent[Posted]) -> None:
    if stored.event.amount != 0:  # a zero posting writes nothing: its checkpoint need not move
        tx.insert(lines, Line(stream_id=stored.stream_id, version=stored.version, amount=stored.event.amount))


total_view = Projection(app, "ledger_total", ledger, views=(totals,), apply=add_to_total)
lines_view = Projection(app, "ledger_lines", ledger, views=(lines,), apply=add_line)
