"""Rebuilding a projection's views from the start of every stream, or from a table's current items.

Stop the projection's change function first (or accept that events appended during the rebuild
are applied by whichever of the two gets there first: the checkpoints still let each event in once).
The views and checkpoints are cleared, then every stream is replayed in turn (for a
``TableProjection``: every item of the source table is applied as an insert). A crash part way
leaves a partial view: run the rebuild again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from portafn.events import Change
from portafn.eventstore.stream import EventStream
from portafn.projections.base import ProjectionBase
from portafn.projections.projection import Projection
from portafn.projections.table_projection import TableProjection
from portafn.store.keys import key_text
from portafn.store.registry import current_store

SCAN_PAGE = 500


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """One stream replayed: its id, the events applied, and how many streams are done of ``total``
    (for a table projection: one item, 1 or 0 applied, and ``total`` 0: not counted ahead)."""

    stream_id: str
    applied: int
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did: streams replayed and events applied."""

    streams: int
    events: int


def stream_ids(stream: EventStream[Any]) -> Iterator[str]:
    """Every stream id that has events, each once, in the store's scan order (needs ``Capability.SCAN``)."""
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        page = stream.table.scan(limit=SCAN_PAGE, cursor=cursor)
        for record in page.items:
            if record.stream_id not in seen:
                seen.add(record.stream_id)
                yield record.stream_id
        if page.cursor is None:
            return
        cursor = page.cursor


def rebuild(
    projection: ProjectionBase, progress: Callable[[RebuildProgress], None] | None = None
) -> RebuildResult:
    """Clear ``projection``'s views and checkpoints, then apply every stream from its first event
    (a ``TableProjection``: every current item of its source table)."""
    store = current_store()
    for view in projection.views:
        view.clear()
    projection.checkpoints(store).clear(store)
    if isinstance(projection, TableProjection):
        return _rebuild_table(projection, progress)
    if not isinstance(projection, Projection):
        raise TypeError(f"cannot rebuild {projection!r}: not a Projection or TableProjection")
    streams = list(stream_ids(projection.source))
    events = 0
    for done, stream_id in enumerate(streams, 1):
        applied = projection.catch_up(stream_id)
        events += applied
        if progress is not None:
            progress(RebuildProgress(stream_id, applied, done, len(streams)))
    return RebuildResult(len(streams), events)


def _rebuild_table(
    projection: TableProjection[Any], progress: Callable[[RebuildProgress], None] | None
) -> RebuildResult:
    """Apply each item of the source table, a scan page at a time, as an insert of its current state."""
    table = projection.source
    source = f"portafn://{current_store().name}/{table.name}"
    items = applied = 0
    cursor: str | None = None
    while True:
        page = table.scan(limit=SCAN_PAGE, cursor=cursor)
        for item in page.items:
            key = table.key_of(item)
            change = Change[Any](
                id=f"rebuild:{projection.stream_id(key)}",
                source=source,
                type="portafn.change.insert",
                subject=key_text(key),
                kind="insert",
                table=table.name,
                key=key.as_dict(table.spec),
                new=item,
            )
            done = projection.handle(change)
            items += 1
            applied += done
            if progress is not None:
                progress(RebuildProgress(key_text(key), int(done), items, 0))
        if page.cursor is None:
            return RebuildResult(items, applied)
        cursor = page.cursor
