"""What an event stream stores: one item per event, one item per stream's latest snapshot."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class EventRecord(BaseModel):
    """One stored event: partition ``stream_id``, sort key ``version`` (1, 2, 3 ... with no gap).

    ``event_id`` is stable (``<stream>/<stream_id>/<version>``), so the message the outbox relays
    for it carries the same CloudEvent id however often it is sent.
    """

    stream_id: str
    version: int
    type: str
    data: dict[str, Any]
    event_id: str
    recorded_at: float
    metadata: dict[str, str] = {}


class SnapshotRecord(BaseModel):
    """The folded state of a stream at ``version``; ``schema_version`` retires snapshots of an older state shape."""

    stream_id: str
    version: int
    schema_version: int
    state: dict[str, Any]
    taken_at: float
