"""Event sourcing on any table store: streams, optimistic appends, snapshots and aggregates.

See ``portafn.eventstore.stream`` for the layout and the guarantees, and docs/eventstore.md.
"""

from portafn.eventstore.aggregate import Aggregate, Loaded
from portafn.eventstore.records import EventRecord, SnapshotRecord
from portafn.eventstore.stream import EventStream, StoredEvent
from portafn.store.errors import ConcurrencyConflict

__all__ = [
    "Aggregate",
    "ConcurrencyConflict",
    "EventRecord",
    "EventStream",
    "Loaded",
    "SnapshotRecord",
    "StoredEvent",
]
