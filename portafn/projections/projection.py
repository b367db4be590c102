"""A projection: a stream's events applied to view tables, once each, in order per stream.

```python
def on_account_event(tx: Transaction, stored: StoredEvent[AccountEvent]) -> None:
    ...  # tx.put(balances, ...), tx.insert(activity, ...), tx.update(...)

balances_view = Projection(app, "balances", accounts, views=(balances,), apply=on_account_event)
```

For each event, ``apply`` adds the view writes to a transaction that also advances the stream's
checkpoint (``portafn.projections.checkpoints``); the transaction commits both or neither, so a
crash never leaves an event applied without its checkpoint, and a second projector racing on the
same stream has its transaction fail and moves on from the fresher checkpoint.

Delivery may be late, duplicated or out of order (change sources are at least once, and deliver
per partition in order only mostly): ``handle(stream_id, version)`` applies every event after the
checkpoint up to ``version``, read from the stream itself, and does nothing for a version already
applied. ``Projection`` registers a change function on the stream's events table that does this
(``portafn_project_<name>``), and ``catch_up`` / ``rebuild`` run the same loop on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from portafn.context import Context
from portafn.events import Change
from portafn.eventstore.records import EventRecord
from portafn.eventstore.stream import ANY_VERSION_POLICY, EventStream, StoredEvent
from portafn.projections.base import FUNCTION_PREFIX, ProjectionBase
from portafn.projections.checkpoints import Checkpoints, Position
from portafn.store.errors import TransactionConflict
from portafn.store.registry import current_store
from portafn.store.retry import backoff

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.table import Table
    from portafn.store.transaction import Transaction

E = TypeVar("E")

__all__ = ["FUNCTION_PREFIX", "Projection"]


class Projection(ProjectionBase, Generic[E]):
    """Keeps ``views`` up to date from ``source``'s events with ``apply(tx, stored_event)``.

    ``apply`` adds writes to the view tables to ``tx`` (insert, put, replace, update, delete) and
    may read any table; it must write nothing else (a rebuild clears only ``views``) and have no
    other side effect, since a lost race runs it again. On a store whose transactions stay in one
    partition, an event's writes go to partition ``<stream id>`` of ``views[0]``, where the
    checkpoint lives. ``functions=False`` registers no change function (drive it with
    ``catch_up``). For a table's changes as the source, see ``TableProjection``.
    """

    def __init__(
        self,
        app: App,
        name: str,
        source: EventStream[E],
        *,
        views: Sequence[Table[Any]],
        apply: Callable[[Transaction, StoredEvent[E]], None],
        functions: bool = True,
    ) -> None:
        super().__init__(app, name, views, sources=(source.table, source.snapshots))
        self.source = source
        self.apply = apply
        if functions:
            self._register()

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, source={self.source.name!r})"

    @property
    def source_table(self) -> Table[Any]:
        """The stream's events table, whose change function drives this projection."""
        return self.source.table

    def _register(self) -> None:
        projection = self

        @self.app.changes(self.source.table, name=self.function_name)
        def portafn_project(change: Change[Any], ctx: Context) -> None:
            """Apply a newly appended event (and any earlier one not yet applied) to the views."""
            if change.kind == "insert":
                projection.handle(str(change.key["stream_id"]), int(change.key["version"]))

    # -- applying ------------------------------------------------------------------------------

    def handle(self, stream_id: str, version: int) -> int:
        """Apply ``stream_id`` up to ``version`` (a delivered event); how many events were applied.

        A version already applied does nothing; one beyond the next first applies those between.
        """
        return self.catch_up(stream_id, to_version=version)

    def catch_up(self, stream_id: str, to_version: int | None = None) -> int:
        """Apply every event of ``stream_id`` after its checkpoint (up to ``to_version``); how many.

        A transaction lost to another projector is not an error: the loop reads the checkpoint
        again and skips what the other applied.
        """
        store = current_store()
        checkpoints = self.checkpoints(store)
        applied = 0
        attempt = 1
        while True:
            at = checkpoints.position(store, stream_id)
            try:
                for record in self.source.records(stream_id, at.version + 1, to_version):
                    if record.version <= at.version:
                        continue  # another projector got here first
                    self._apply_one(checkpoints, record, at)
                    applied += 1
                    at = checkpoints.position(store, stream_id)
                return applied
            except TransactionConflict:
                if attempt >= ANY_VERSION_POLICY.attempts:
                    raise
                backoff(attempt, ANY_VERSION_POLICY)
                attempt += 1

    def _apply_one(self, checkpoints: Checkpoints, record: EventRecord, at: Position) -> None:
        from portafn.store.transaction import transaction

        with transaction() as tx:
            self.apply(tx, self.source.typed(record))
            self._check_writes(tx)
            checkpoints.advance(tx, record.stream_id, at, record.version)
