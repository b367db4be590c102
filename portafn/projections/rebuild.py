"""Rebuilding a projection's views from the start of every stream.

Stop the projection's change function first (or accept that events appended during the rebuild
are applied by whichever of the two gets there first: the checkpoints still let each event in once).
The views and checkpoints are cleared, then every stream is replayed in turn. A crash part way
leaves a partial view: run the rebuild again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from portafn.eventstore.stream import EventStream
from portafn.projections.projection import Projection
from portafn.store.registry import current_store

SCAN_PAGE = 500


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """One stream replayed: its id, the events applied, and how many streams are done of ``total``."""

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
    projection: Projection[Any], progress: Callable[[RebuildProgress], None] | None = None
) -> RebuildResult:
    """Clear ``projection``'s views and checkpoints, then apply every stream from its first event."""
    store = current_store()
    for view in projection.views:
        view.clear()
    projection.checkpoints(store).clear(store)
    streams = list(stream_ids(projection.source))
    events = 0
    for done, stream_id in enumerate(streams, 1):
        applied = projection.catch_up(stream_id)
        events += applied
        if progress is not None:
            progress(RebuildProgress(stream_id, applied, done, len(streams)))
    return RebuildResult(len(streams), events)
