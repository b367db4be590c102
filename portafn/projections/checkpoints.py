"""Where a projection records how far it has applied each stream, advanced inside the view's transaction.

Two layouts, chosen by what the store can do:

- ``TableCheckpoints`` (stores whose transactions span partitions and tables): one
  ``ProjectionCheckpoint`` item per stream in ``<projection>_checkpoints``, inserted or replaced on
  its etag in the transaction that writes the view, so a racing projector's transaction fails.
- ``AttachedCheckpoints`` (stores whose transactions stay in one partition of one table): one small
  marker document per applied version, attached to partition ``<stream id>`` of the projection's
  first view table in the transaction that writes it. A marker is created, never replaced, so a
  second projector applying the same version fails its whole transaction; the position is the
  highest marker. Markers are only removed by a rebuild.
- ``ItemCheckpoints`` (the same stores, for a projection of a table's changes): the markers of one
  source item sit in partition ``<item's partition key>`` of the first view table, one per position
  moved *from*, so two projectors moving one item on from the same position collide even when they
  apply different versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from portafn.store.capabilities import Capabilities, Capability
from portafn.store.errors import Unsupported
from portafn.store.port import Key

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.port import KeyValue, Store
    from portafn.store.table import Table
    from portafn.store.transaction import Transaction

MARKER_DIGITS = 12  # versions sort as text in attached-document names


class ProjectionCheckpoint(BaseModel):
    """The last version of ``stream_id`` whose effects are in the projection's views."""

    stream_id: str
    version: int


@dataclass(frozen=True, slots=True)
class Position:
    """How far a stream is applied: ``version`` (0: nothing yet) and the checkpoint's etag, if one is stored."""

    version: int
    etag: str | None = None


class Checkpoints(Protocol):
    """Reads and advances a projection's per-stream positions."""

    def position(self, store: Store, stream_id: str) -> Position:
        """How far ``stream_id`` is applied."""
        ...

    def advance(self, tx: Transaction, stream_id: str, at: Position, version: int) -> None:
        """Add to ``tx`` the move from ``at`` to ``version``; the commit fails if another projector moved first."""
        ...

    def clear(self, store: Store) -> None:
        """Forget every position."""
        ...


class TableCheckpoints:
    """Positions as items of a checkpoint table, written in the view's (cross-table) transaction."""

    def __init__(self, app: App, projection: str) -> None:
        self.table: Table[ProjectionCheckpoint] = app.table(
            ProjectionCheckpoint, partition_key="stream_id", name=f"{projection}_checkpoints"
        )

    def position(self, store: Store, stream_id: str) -> Position:
        """How far ``stream_id`` is applied."""
        found = self.table.get_versioned(stream_id)
        return Position(0) if found is None else Position(found.item.version, found.etag)

    def advance(self, tx: Transaction, stream_id: str, at: Position, version: int) -> None:
        """Insert the checkpoint (first event) or replace it on the etag that was read."""
        item = ProjectionCheckpoint(stream_id=stream_id, version=version)
        if at.etag is None:
            tx.insert(self.table, item)
        else:
            tx.replace(self.table, item, etag=at.etag)

    def clear(self, store: Store) -> None:
        """Delete every checkpoint item."""
        self.table.clear()


class AttachedCheckpoints:
    """Positions as create-only markers attached to partition ``<stream id>`` of the home view table."""

    def __init__(self, projection: str, home: Table[Any]) -> None:
        self.home = home
        self.prefix = f"projection~{projection}~"

    def marker(self, version: int) -> str:
        """The attached document's name for ``version``."""
        return f"{self.prefix}{version:0{MARKER_DIGITS}d}"

    def position(self, store: Store, stream_id: str) -> Position:
        """The highest marker of ``stream_id``'s partition."""
        self.home._ensure(store)
        found = store.list_attached(self.home.spec, pk=stream_id, prefix=self.prefix)
        versions = [int(a.name[len(self.prefix) :]) for a in found]
        return Position(max(versions, default=0))

    def advance(self, tx: Transaction, stream_id: str, at: Position, version: int) -> None:
        """Attach the marker of ``version``; the handler's writes must name the partition."""
        if self.writes_home(tx, stream_id, "the stream id"):
            tx.attach(self.marker(version), {"stream_id": stream_id, "version": version})

    def writes_home(self, tx: Transaction, partition: KeyValue, what: str) -> bool:
        """Whether ``tx`` writes something, all of it in ``partition`` of the home view table;
        ``Unsupported`` if it writes elsewhere."""
        if tx.partition is None:
            # Nothing written for this change: there is nothing a replay could apply twice, and a
            # marker needs an operation naming its partition. The next marker moves past it.
            return False
        if tx.partition != (self.home.name, partition):
            raise Unsupported(
                tx.store.name,
                Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
                tx.partition[0],
                f"here a projection writes, for each change, only partition {partition!r} ({what}) "
                f"of its first view table {self.home.name!r}, where its checkpoint lives",
            )
        return True

    def clear(self, store: Store) -> None:
        """Delete every marker of this projection."""
        self.home._ensure(store)
        for item in store.list_attached(self.home.spec, prefix=self.prefix):
            store.delete_attached(item)


def item_stream_id(key: Key) -> str:
    """A table item's key as a projection's stream id: JSON ``[pk]`` or ``[pk, sk]`` (stable, and
    ``1`` and ``"1"`` differ)."""
    parts: list[KeyValue] = [key.pk] if key.sk is None else [key.pk, key.sk]
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False)


def item_key(stream_id: str) -> Key:
    """The key ``item_stream_id`` made ``stream_id`` from."""
    parts = json.loads(stream_id)
    return Key(parts[0], parts[1] if len(parts) > 1 else None)


class ItemCheckpoints(AttachedCheckpoints):
    """Positions of a table projection's items as create-only markers in partition ``<pk>`` of the
    home view table, named by the item's sort key and the position moved from."""

    def item_prefix(self, key: Key) -> str:
        """The marker names of one item start with this."""
        sk = "" if key.sk is None else json.dumps(key.sk, ensure_ascii=False)
        return f"{self.prefix}{sk}~"

    def position(self, store: Store, stream_id: str) -> Position:
        """The highest version recorded by the item's markers."""
        key = item_key(stream_id)
        prefix = self.item_prefix(key)
        self.home._ensure(store)
        found = store.list_attached(self.home.spec, pk=key.pk, prefix=prefix)
        mine = [a for a in found if len(a.name) == len(prefix) + MARKER_DIGITS]
        return Position(max((int(a.doc["version"]) for a in mine), default=0))

    def advance(self, tx: Transaction, stream_id: str, at: Position, version: int) -> None:
        """Attach the marker of the move from ``at``: a second move from there fails the commit."""
        key = item_key(stream_id)
        if self.writes_home(tx, key.pk, "the source item's partition key"):
            name = f"{self.item_prefix(key)}{at.version:0{MARKER_DIGITS}d}"
            tx.attach(name, {"stream_id": stream_id, "version": version})


def keeps_table(capabilities: Capabilities) -> bool:
    """Whether a store with ``capabilities`` keeps positions in the checkpoint table; when it
    attaches markers to the view instead, packaging declares no ``<projection>_checkpoints``."""
    return capabilities.has(Capability.TRANSACTIONS_ACROSS_PARTITIONS)


def choose(store: Store, table: TableCheckpoints, attached: AttachedCheckpoints) -> Checkpoints:
    """The layout ``store`` can advance atomically with a view write; ``Unsupported`` if neither."""
    if keeps_table(store.capabilities):
        return table
    if store.capabilities.has(Capability.ATTACHED_DOCUMENTS):
        return attached
    raise Unsupported(
        store.name,
        Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
        table.table.name,
        "a projection advances its checkpoint in the transaction that writes its view",
    )
