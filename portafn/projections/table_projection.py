"""A projection of a table's changes: each item's changes applied to view tables once, newest wins.

```python
class Order(BaseModel):
    customer_id: str
    order_id: str
    total_cents: int
    version: int  # the app raises it on every write

def on_order(tx: Transaction, change: Change[Order]) -> None:
    ...  # tx.put(order_summaries, ...), tx.delete(...) when change.kind == "remove"

summaries = TableProjection(app, "summaries", orders, views=(order_summaries,), apply=on_order,
                            version=lambda order: order.version)
```

A change source gives no portable order: DynamoDB Streams deliver every version, the Cosmos DB
change feed and Firestore only the latest (coalesced), Firestore in no guaranteed order. So the
"stream" is one source item (its key) and the "version" is one the item carries: a change whose
version is not above the item's checkpoint is skipped (a duplicate, or an older version arriving
late), and gaps are fine. As with ``Projection``, the view writes and the checkpoint commit in one
transaction, and a racing projector's transaction fails and reads the checkpoint again.

A delete counts as the version after the one it removed (from the old image), so a late older
change is skipped after it; a store that reports only the key of a removed item gets the delete
applied at the next version (and skipped if nothing of the item was applied). The Cosmos DB change
feed reports no deletes at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from portafn.context import Context
from portafn.errors import RegistrationError
from portafn.events import Change
from portafn.eventstore.stream import ANY_VERSION_POLICY
from portafn.projections.base import ProjectionBase
from portafn.projections.checkpoints import Checkpoints, ItemCheckpoints, Position, item_stream_id
from portafn.store.errors import TransactionConflict
from portafn.store.registry import current_store
from portafn.store.retry import backoff

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.port import Key
    from portafn.store.table import Table
    from portafn.store.transaction import Transaction

M = TypeVar("M", bound=BaseModel)


class TableProjection(ProjectionBase, Generic[M]):
    """Keeps ``views`` up to date from ``source``'s changes with ``apply(tx, change)``.

    ``version(item)`` is the item's own version, raised on every write (a change at or below the
    item's checkpoint is skipped). ``apply`` gets a ``Change`` whose ``new`` (insert, modify) or
    ``old`` (remove, when the store reports it) is the typed item, and follows ``Projection``'s
    rules: it writes only ``views``, with no other side effect. On a store whose transactions stay
    in one partition, a change's writes go to partition ``<the item's partition key>`` of
    ``views[0]``. ``functions=False`` registers no change function (drive it with ``handle``).
    """

    def __init__(
        self,
        app: App,
        name: str,
        source: Table[M],
        *,
        views: Sequence[Table[Any]],
        apply: Callable[[Transaction, Change[M]], None],
        version: Callable[[M], int],
        functions: bool = True,
    ) -> None:
        if app.tables.get(source.name) is not source:
            raise RegistrationError(
                name, "a table projection's source is a table made by this app's app.table()"
            )
        super().__init__(
            app,
            name,
            views,
            sources=(source,),
            source_text="its source table",
            attached=ItemCheckpoints(name, views[0]) if views else None,
        )
        self.source = source
        self.apply = apply
        self.version = version
        if functions:
            self._register()

    def __repr__(self) -> str:
        return f"TableProjection({self.name!r}, source={self.source.name!r})"

    @property
    def source_table(self) -> Table[Any]:
        """The source table, whose change function drives this projection."""
        return self.source

    def _register(self) -> None:
        projection = self

        @self.app.changes(self.source, name=self.function_name)
        def portafn_project(change: Change[Any], ctx: Context) -> None:
            """Apply an item's change to the views unless its version is already applied."""
            projection.handle(change)

    def stream_id(self, key: Key) -> str:
        """The checkpoint's stream id of the source item with ``key``."""
        return item_stream_id(key)

    def item_position(self, pk: Any, sk: Any = None) -> int:
        """The last version of the source item ``(pk, sk)`` applied to the views (0: none)."""
        return self.position(self.stream_id(self.source.key(pk, sk)))

    def handle(self, change: Change[Any]) -> bool:
        """Apply one delivered change unless the item's checkpoint is already at or past it;
        whether it was applied. A transaction lost to another projector is retried from the
        fresher checkpoint."""
        typed = self._typed(change)
        key = self._key(typed)
        stream_id = self.stream_id(key)
        store = current_store()
        checkpoints = self.checkpoints(store)
        attempt = 1
        while True:
            at = checkpoints.position(store, stream_id)
            version = self._version_of(typed, at)
            if version <= at.version:
                return False
            try:
                self._apply_one(checkpoints, typed, stream_id, at, version)
                return True
            except TransactionConflict:
                if attempt >= ANY_VERSION_POLICY.attempts:
                    raise
                backoff(attempt, ANY_VERSION_POLICY)
                attempt += 1

    def _apply_one(
        self, checkpoints: Checkpoints, change: Change[M], stream_id: str, at: Position, version: int
    ) -> None:
        from portafn.store.transaction import transaction

        with transaction() as tx:
            self.apply(tx, change)
            self._check_writes(tx)
            checkpoints.advance(tx, stream_id, at, version)

    def _version_of(self, change: Change[M], at: Position) -> int:
        if change.kind != "remove":
            if change.new is None:
                raise ValueError(f"projection {self.name!r}: a {change.kind} change carries no new item")
            return int(self.version(change.new))
        if change.old is not None:
            return int(self.version(change.old)) + 1
        # Only the key: nothing to order it by, so apply it now; unless nothing of the item was
        # ever applied, when there is nothing in the views to remove.
        return at.version + 1 if at.version else 0

    def _typed(self, change: Change[Any]) -> Change[M]:
        """``change`` with ``old`` and ``new`` as the source's model (deliveries carry documents)."""
        model = self.source.model

        def item(value: Any) -> Any:
            return model.model_validate(value) if isinstance(value, dict) else value

        return change.model_copy(update={"old": item(change.old), "new": item(change.new)})

    def _key(self, change: Change[M]) -> Key:
        spec = self.source.spec
        sk = change.key.get(spec.sort_key) if spec.sort_key is not None else None
        return self.source.key(change.key[spec.partition_key], sk)
