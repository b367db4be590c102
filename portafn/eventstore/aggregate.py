"""Rehydrating an aggregate from its stream, with a snapshot every N events, and running commands.

```python
account = Aggregate(accounts, Account, initial=lambda: Account(), apply=apply_event)

state = account.load("acc-1")                 # snapshot + the events after it
state = account.execute("acc-1", deposit_10)  # decide(state) -> events, appended at state's version
```

A snapshot is a cache of the fold: it is written after the fold has passed ``snapshot_every``
events beyond the last one, never inside the append's transaction, and a lost or stale snapshot
only costs reading more events. ``schema_version`` retires snapshots of an older state shape: bump
it when the state model or ``apply`` changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from portafn.eventstore.records import SnapshotRecord
from portafn.eventstore.stream import ANY_VERSION_POLICY, EventStream
from portafn.store.errors import AlreadyExists, ConcurrencyConflict, NotFound
from portafn.store.retry import backoff

E = TypeVar("E")
S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[S]):
    """An aggregate's state at ``version``; ``from_snapshot`` is the version its snapshot held (0: none)."""

    state: S
    version: int
    from_snapshot: int = 0


class Aggregate(Generic[S, E]):
    """Folds a stream's events into a ``state`` model with ``apply(state, event) -> state``."""

    def __init__(
        self,
        stream: EventStream[E],
        state: type[S],
        *,
        initial: Callable[[], S],
        apply: Callable[[S, E], S],
        schema_version: int = 1,
    ) -> None:
        self.stream = stream
        self.state_model = state
        self.initial = initial
        self.apply = apply
        self.schema_version = schema_version

    def _snapshot(self, stream_id: str) -> Loaded[S] | None:
        found = self.stream.snapshots.get(stream_id)
        if found is None or found.schema_version != self.schema_version:
            return None
        state = self.state_model.model_validate(found.state)
        return Loaded(state, found.version, found.version)

    def load(self, stream_id: str) -> Loaded[S]:
        """The state after every event of the stream (from the latest snapshot on)."""
        start = self._snapshot(stream_id) or Loaded(self.initial(), 0)
        state, version = start.state, start.version
        for record in self.stream.records(stream_id, version + 1):
            state = self.apply(state, self.stream.typed(record).event)
            version = record.version
        loaded = Loaded(state, version, start.from_snapshot)
        self._maybe_snapshot(stream_id, loaded)
        return loaded

    def _maybe_snapshot(self, stream_id: str, loaded: Loaded[S]) -> None:
        if loaded.version - loaded.from_snapshot < self.stream.snapshot_every:
            return
        record = SnapshotRecord(
            stream_id=stream_id,
            version=loaded.version,
            schema_version=self.schema_version,
            state=loaded.state.model_dump(mode="json", by_alias=True),
            taken_at=time.time(),
        )
        current = self.stream.snapshots.get_versioned(stream_id)
        try:
            if current is None:
                self.stream.snapshots.insert(record)
            elif current.item.version < loaded.version or current.item.schema_version != self.schema_version:
                self.stream.snapshots.replace(record, etag=current.etag)
        except (AlreadyExists, ConcurrencyConflict, NotFound):
            pass  # another loader stored one meanwhile: a snapshot is a cache, either will do

    def execute(
        self, stream_id: str, decide: Callable[[S], Sequence[E]], *, retry_conflicts: bool = True
    ) -> Loaded[S]:
        """Load, ``decide(state)`` the events, append them at the loaded version; the new state.

        On a lost race the command is decided again on the fresh state (so ``decide`` must be free
        of side effects); with ``retry_conflicts=False`` the ``ConcurrencyConflict`` is raised.
        ``decide`` may raise to refuse the command; returning no events appends nothing.
        """
        attempts = ANY_VERSION_POLICY.attempts if retry_conflicts else 1
        for attempt in range(1, attempts + 1):
            loaded = self.load(stream_id)
            events = list(decide(loaded.state))
            if not events:
                return loaded
            try:
                version = self.stream.append(stream_id, events, expected_version=loaded.version)
            except ConcurrencyConflict:
                if attempt >= attempts:
                    raise
                backoff(attempt, ANY_VERSION_POLICY)
                continue
            state = loaded.state
            for event in events:
                state = self.apply(state, event)
            after = Loaded(state, version, loaded.from_snapshot)
            self._maybe_snapshot(stream_id, after)
            return after
        raise AssertionError("unreachable")
