"""An event stream: append-only, optimistic concurrency by version, on any table store.

```python
accounts = EventStream(app, "accounts", AccountEvent, publish="account-events")

version = accounts.append("acc-1", [Opened(owner="ada")], expected_version=0)
for stored in accounts.read("acc-1", from_version=1):
    ...
```

Each event is an item of the table ``<name>_events`` (partition: the stream id; sort key: the
version), so one stream lives in one partition (on Cosmos DB, one logical partition). ``append``
writes its events in one transaction with a check that the stream is at ``expected_version`` and
inserts of versions ``expected_version + 1 ...`` that fail if taken: a racing appender makes the
whole transaction fail (``ConcurrencyConflict``), never a gap or a duplicate version. With
``publish=``, each event also goes into the app's outbox in the same transaction, so the relay
publishes exactly the events that were appended (at least once, with a stable CloudEvent id).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import TypeAdapter

from portafn.eventstore.records import EventRecord, SnapshotRecord
from portafn.store.capabilities import Capability
from portafn.store.errors import ConcurrencyConflict, TransactionConflict
from portafn.store.registry import current_store
from portafn.store.retry import RetryPolicy, backoff
from portafn.store.table import Table

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.transaction import Transaction

E = TypeVar("E")

# Appending "at whatever version the stream is" retries a lost race: the same budget as Table.update.
ANY_VERSION_POLICY = RetryPolicy(attempts=50, base=0.005, cap=0.2)
PAGE = 500


@dataclass(frozen=True, slots=True)
class StoredEvent(Generic[E]):
    """An event as read back: its stream, version, typed event, stable id and time recorded."""

    stream_id: str
    version: int
    event: E
    event_id: str
    recorded_at: float
    metadata: Mapping[str, str]


class EventStream(Generic[E]):
    """A named kind of stream whose events are ``event`` (a pydantic model or a union of them).

    ``publish``: a topic each appended event is published to through the app's outbox (declare
    ``Outbox(app)`` too; on a store whose transactions stay in one partition, ``Outbox(app,
    tables=(stream.table,))``). ``snapshot_every``: how many events an ``Aggregate`` folds before it
    stores a snapshot.
    """

    def __init__(
        self,
        app: App,
        name: str,
        event: Any,
        *,
        publish: str | None = None,
        snapshot_every: int = 100,
    ) -> None:
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        self.app = app
        self.name = name
        self.publish = publish
        self.snapshot_every = snapshot_every
        self.adapter: TypeAdapter[E] = TypeAdapter(event)
        self.table: Table[EventRecord] = app.table(
            EventRecord,
            partition_key="stream_id",
            sort_key="version",
            name=f"{name}_events",
            requires=(Capability.TRANSACTIONS, Capability.CONDITIONAL_WRITES),
        )
        self.snapshots: Table[SnapshotRecord] = app.table(
            SnapshotRecord, partition_key="stream_id", name=f"{name}_snapshots"
        )

    def __repr__(self) -> str:
        return f"EventStream({self.name!r})"

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[E],
        *,
        expected_version: int | None,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        """Append ``events`` after version ``expected_version``; returns the stream's new version.

        ``expected_version=0`` creates the stream. ``ConcurrencyConflict`` if the stream is not at
        ``expected_version`` (another writer appended first, or the caller's view is wrong); nothing
        is written then. ``None`` appends at whatever version the stream has, retrying a lost race.
        """
        if not events:
            raise ValueError("append needs at least one event")
        if expected_version is not None:
            return self._append_at(stream_id, events, expected_version, metadata or {})
        for attempt in range(1, ANY_VERSION_POLICY.attempts + 1):
            try:
                return self._append_at(stream_id, events, self.version(stream_id), metadata or {})
            except ConcurrencyConflict:
                if attempt >= ANY_VERSION_POLICY.attempts:
                    raise
                backoff(attempt, ANY_VERSION_POLICY)
        raise AssertionError("unreachable")

    def _append_at(
        self, stream_id: str, events: Sequence[E], expected: int, metadata: Mapping[str, str]
    ) -> int:
        from portafn.store.transaction import transaction

        if expected < 0:
            raise ValueError("expected_version cannot be negative")
        records = [self._record(stream_id, expected + i, e, metadata) for i, e in enumerate(events, 1)]
        # No gap: the stream must hold `expected`. Events are never deleted, so once it holds it,
        # it still does at commit; checking before the transaction keeps the transaction to inserts
        # alone, which stores can commit with no reads (no locks for racing appenders to fight over).
        if expected > 0 and self.table.get(stream_id, expected) is None:
            raise ConcurrencyConflict(
                current_store().name,
                self.table.name,
                self.table.key(stream_id, expected),
                f"stream {stream_id!r} of {self.name!r} is not at version {expected}: it has no such version",
            )
        try:
            with transaction() as tx:
                # Each insert fails if its version is taken: a racing appender cancels the whole append.
                for record in records:
                    tx.insert(self.table, record)
                self._stage(tx, records)
        except TransactionConflict as exc:
            store = current_store()
            raise ConcurrencyConflict(
                store.name,
                self.table.name,
                self.table.key(stream_id, expected + 1),
                f"stream {stream_id!r} of {self.name!r} is not at version {expected}",
            ) from exc
        return records[-1].version

    def _record(self, stream_id: str, version: int, event: E, metadata: Mapping[str, str]) -> EventRecord:
        data = self.adapter.dump_python(event, mode="json", by_alias=True)
        if not isinstance(data, dict):
            raise TypeError(f"stream {self.name!r}: an event must be a model (a JSON object), not {data!r}")
        return EventRecord(
            stream_id=stream_id,
            version=version,
            type=type(event).__name__,
            data=data,
            event_id=f"{self.name}/{stream_id}/{version}",
            recorded_at=time.time(),
            metadata=dict(metadata),
        )

    def _stage(self, tx: Transaction, records: Sequence[EventRecord]) -> None:
        if self.publish is None:
            return
        from portafn.reliability.outbox import Outbox
        from portafn.reliability.publish import build

        outbox = Outbox.of(self.app)
        for record in records:
            message = build(
                self.publish,
                record.data,
                source=f"portafn://{self.app.name}/streams/{self.name}",
                correlation_id=record.metadata.get("correlationid"),
                causation_id=record.metadata.get("causationid"),
                key=record.stream_id,
                type=f"{self.name}.{record.type}",
                subject=f"{record.stream_id}/{record.version}",
            )
            # The event's own id, so every relay of it is recognisably the same message.
            message = replace(message, event=message.event.model_copy(update={"id": record.event_id}))
            outbox.stage(tx, message)

    # -- reading -------------------------------------------------------------------------------

    def version(self, stream_id: str) -> int:
        """The stream's current version (0: no event yet)."""
        page = self.table.query(stream_id, descending=True, limit=1)
        return page.items[0].version if page.items else 0

    def records(
        self, stream_id: str, from_version: int = 1, to_version: int | None = None
    ) -> Iterator[EventRecord]:
        """The stored records from ``from_version`` (to ``to_version``, inclusive), in version order."""
        cursor: str | None = None
        low = max(1, from_version)
        while True:
            if to_version is None:
                page = self.table.query(stream_id, gte=low, limit=PAGE, cursor=cursor)
            elif to_version < low:
                return
            else:
                page = self.table.query(stream_id, between=(low, to_version), limit=PAGE, cursor=cursor)
            yield from page.items
            if page.cursor is None:
                return
            cursor = page.cursor

    def read(
        self, stream_id: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent[E]]:
        """The stream's events from ``from_version`` on, typed, in version order."""
        return [self.typed(r) for r in self.records(stream_id, from_version, to_version)]

    def typed(self, record: EventRecord) -> StoredEvent[E]:
        """A stored record with its event validated into the stream's event type."""
        return StoredEvent(
            stream_id=record.stream_id,
            version=record.version,
            event=self.adapter.validate_python(record.data),
            event_id=record.event_id,
            recorded_at=record.recorded_at,
            metadata=record.metadata,
        )
