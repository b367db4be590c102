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

import re
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from portafn.context import Context
from portafn.errors import RegistrationError
from portafn.events import Change
from portafn.eventstore.records import EventRecord
from portafn.eventstore.stream import ANY_VERSION_POLICY, EventStream, StoredEvent
from portafn.projections.checkpoints import (
    AttachedCheckpoints,
    Checkpoints,
    Position,
    ProjectionCheckpoint,
    TableCheckpoints,
    choose,
    keeps_table,
)
from portafn.store.errors import TransactionConflict
from portafn.store.registry import current_store
from portafn.store.retry import backoff

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.capabilities import Capabilities
    from portafn.store.port import Store
    from portafn.store.table import Table
    from portafn.store.transaction import Transaction

E = TypeVar("E")

FUNCTION_PREFIX = "portafn_project_"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_registry: weakref.WeakKeyDictionary[App, dict[str, Projection[Any]]] = weakref.WeakKeyDictionary()


class Projection(Generic[E]):
    """Keeps ``views`` up to date from ``source``'s events with ``apply(tx, stored_event)``.

    ``apply`` adds writes to the view tables to ``tx`` (insert, put, replace, update, delete) and
    may read any table; it must write nothing else (a rebuild clears only ``views``) and have no
    other side effect, since a lost race runs it again. On a store whose transactions stay in one
    partition, an event's writes go to partition ``<stream id>`` of ``views[0]``, where the
    checkpoint lives. ``functions=False`` registers no change function (drive it with
    ``catch_up``).
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
        if not _NAME.match(name):
            raise RegistrationError(
                name, "a projection's name is a letter then letters, digits or _ (48 at most)"
            )
        if not views:
            raise RegistrationError(name, "a projection needs at least one view table")
        known = _registry.setdefault(app, {})
        if name in known:
            raise RegistrationError(name, f"app {app.name!r} already has a projection named {name!r}")
        for view in views:
            if app.tables.get(view.name) is not view:
                raise RegistrationError(name, "views= takes tables made by this app's app.table()")
            if view is source.table or view is source.snapshots:
                raise RegistrationError(name, "a projection's views cannot be its source stream's tables")
        self.app = app
        self.name = name
        self.source = source
        self.views: tuple[Table[Any], ...] = tuple(views)
        self.apply = apply
        self._table_checkpoints = TableCheckpoints(app, name)
        self._attached_checkpoints = AttachedCheckpoints(name, self.views[0])
        known[name] = self
        if functions:
            self._register()

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, source={self.source.name!r})"

    @classmethod
    def of(cls, app: App, name: str) -> Projection[Any]:
        """The projection of ``app`` called ``name``, or the only one whose views include table ``name``."""
        known = _registry.get(app, {})
        if name in known:
            return known[name]
        owners = [p for p in known.values() if any(v.name == name for v in p.views)]
        if len(owners) == 1:
            return owners[0]
        have = ", ".join(sorted(known)) or "none"
        raise LookupError(
            f"app {app.name!r} has no projection or single view named {name!r} (projections: {have})"
        )

    @classmethod
    def all(cls, app: App) -> list[Projection[Any]]:
        """Every projection declared on ``app``, in declaration order."""
        return list(_registry.get(app, {}).values())

    @property
    def checkpoint_table(self) -> Table[ProjectionCheckpoint]:
        """``<name>_checkpoints``: where positions live on stores whose transactions span tables."""
        return self._table_checkpoints.table

    @classmethod
    def idle_tables(cls, app: App, capabilities: Capabilities) -> frozenset[str]:
        """The checkpoint tables of ``app``'s projections that a store with ``capabilities`` never
        touches (it attaches positions to the views), so a template need not create them."""
        if keeps_table(capabilities):
            return frozenset()
        return frozenset(p.checkpoint_table.name for p in cls.all(app))

    def _register(self) -> None:
        projection = self

        @self.app.changes(self.source.table, name=f"{FUNCTION_PREFIX}{self.name}")
        def portafn_project(change: Change[Any], ctx: Context) -> None:
            """Apply a newly appended event (and any earlier one not yet applied) to the views."""
            if change.kind == "insert":
                projection.handle(str(change.key["stream_id"]), int(change.key["version"]))

    # -- applying ------------------------------------------------------------------------------

    def checkpoints(self, store: Store | None = None) -> Checkpoints:
        """Where this projection's positions live on ``store`` (default: the current store)."""
        return choose(store or current_store(), self._table_checkpoints, self._attached_checkpoints)

    def position(self, stream_id: str) -> int:
        """The last version of ``stream_id`` applied to the views (0: none)."""
        store = current_store()
        return self.checkpoints(store).position(store, stream_id).version

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

    def _check_writes(self, tx: Transaction) -> None:
        views = {v.name for v in self.views}
        stray = sorted({op.table.name for op in tx.ops} - views)
        if stray:
            raise ValueError(
                f"projection {self.name!r} wrote table(s) {', '.join(stray)} outside its views "
                f"({', '.join(sorted(views))}): a rebuild would apply those writes twice"
            )
