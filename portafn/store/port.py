"""The store port: the small set of operations every store implements over JSON documents.

Tables (``portafn.store.table``) turn pydantic models into documents and call this port; a store
never sees a model. Documents are JSON-compatible dicts that include the key fields themselves.
Keys are ``str`` or ``int`` values (see ``portafn.store.keys``). Etags are opaque strings the store
makes; a write with an ``etag`` succeeds only if the stored item still has it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from portafn.store.capabilities import Capabilities

KeyValue = str | int
SortOp = Literal["eq", "begins_with", "between", "gt", "gte", "lt", "lte"]
ChangeKind = Literal["insert", "modify", "remove"]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What a store needs to know of a table."""

    name: str
    partition_key: str
    sort_key: str | None = None
    ttl_field: str | None = None


@dataclass(frozen=True, slots=True)
class Key:
    """A partition key value and, for tables that have one, a sort key value."""

    pk: KeyValue
    sk: KeyValue | None = None

    def as_dict(self, spec: TableSpec) -> dict[str, KeyValue]:
        """The key as field name to value."""
        out: dict[str, KeyValue] = {spec.partition_key: self.pk}
        if spec.sort_key is not None and self.sk is not None:
            out[spec.sort_key] = self.sk
        return out


@dataclass(frozen=True, slots=True)
class Record:
    """A stored document with its etag."""

    key: Key
    doc: dict[str, Any]
    etag: str


@dataclass(frozen=True, slots=True)
class SortCondition:
    """A condition on the sort key within one partition. ``high`` is used by ``between`` only."""

    op: SortOp
    value: KeyValue
    high: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query; ``cursor`` resumes right after its last record, None at the end."""

    records: list[Record]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Put:
    """Write a whole document.

    ``if_absent``: only if the key is free (else ``AlreadyExists``). ``etag``: only if the stored
    item still has this etag (else ``ConcurrencyConflict``, or ``NotFound`` if it is gone).
    """

    table: TableSpec
    key: Key
    doc: dict[str, Any]
    if_absent: bool = False
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete an item. ``etag``: only if it still has this etag. Deleting a missing item without an
    etag succeeds (deletes are idempotent); with an etag it raises ``NotFound``."""

    table: TableSpec
    key: Key
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """A condition inside a transaction: the item exists (with ``etag`` if given) or, with
    ``exists=False``, does not."""

    table: TableSpec
    key: Key
    etag: str | None = None
    exists: bool = True


Write = Put | Delete
TransactOp = Put | Delete | Check


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One change read from a store's change source, in commit order per partition."""

    table: str
    kind: ChangeKind
    key: Key
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    sequence: str
    time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attached:
    """A document kept in one partition of a table beside its items: the transactional outbox's
    record on stores whose transactions stay in one partition (Cosmos DB), where a record in an
    outbox table of its own could not join the business write.

    ``name`` is unique within the partition. The table's reads, queries and change functions never
    see attached documents; they come back through ``list_attached`` and, as change records
    flagged ``extra["attached"]``, through ``read_changes``.
    """

    table: TableSpec
    pk: KeyValue
    name: str
    doc: dict[str, Any] = field(default_factory=dict)


class Store(ABC):
    """A store implementation. Subclasses set ``scheme`` and ``capabilities`` and are registered
    by a provider plugin's ``stores`` (``portafn.plugins``) by scheme.

    Every method raises only ``portafn.store.errors`` types: SDK exceptions are mapped inside.
    Methods must be safe to call from several threads at once.
    """

    scheme: ClassVar[str]
    #: A store that claims ``Capability.ATTACHED_DOCUMENTS`` overrides the three ``*_attached`` methods.
    capabilities: Capabilities

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def name(self) -> str:
        """The store's name in errors and reports (its scheme)."""
        return self.scheme

    @abstractmethod
    def ensure_table(self, table: TableSpec) -> None:
        """Create the table (and what its TTL and change source need) if missing; idempotent."""

    @abstractmethod
    def get(self, table: TableSpec, key: Key) -> Record | None:
        """The item, or None."""

    @abstractmethod
    def write(self, op: Write) -> str | None:
        """Apply one write; returns the new etag of a put, None for a delete."""

    @abstractmethod
    def query(
        self,
        table: TableSpec,
        pk: KeyValue,
        condition: SortCondition | None,
        *,
        descending: bool,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """Items of one partition in sort-key order, at most ``limit``, resuming after ``cursor``."""

    def scan(self, table: TableSpec, *, limit: int, cursor: str | None) -> Page:
        """Items of every partition, at most ``limit``, in the store's own order, resuming after
        ``cursor`` (made with ``portafn.store.cursor.scan_scope``). Stores that claim
        ``Capability.SCAN`` override it."""
        from portafn.store.capabilities import Capability
        from portafn.store.errors import Unsupported

        raise Unsupported(self.name, Capability.SCAN.value, table.name)

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        """Items found among ``keys`` (at most ``batch_get_size``), and keys left unprocessed.

        The default reads one at a time; stores with a native batch read override it.
        """
        found = [r for r in (self.get(table, k) for k in keys) if r is not None]
        return found, []

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        """Apply unconditional writes (at most ``batch_write_size``); returns those left unprocessed.

        Not atomic. The default writes one at a time.
        """
        for op in ops:
            self.write(op)
        return []

    @abstractmethod
    def transact(self, ops: Sequence[TransactOp]) -> None:
        """Apply every op or none; ``TransactionConflict`` (with per-op reasons) if any condition fails."""

    def read_changes(
        self, table: TableSpec, cursor: str | None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        """Changes after ``cursor`` (None: from the start of what the store keeps) and the next cursor."""
        from portafn.store.errors import Unsupported

        raise Unsupported(self.name, "change source", table.name)

    def transact_attached(self, ops: Sequence[TransactOp], attached: Sequence[Attached]) -> None:
        """Like ``transact``, also creating ``attached`` (all in the partition the ops write)."""
        raise self._no_attached(attached[0].table.name if attached else None)

    def list_attached(
        self, table: TableSpec, *, pk: KeyValue | None = None, prefix: str = ""
    ) -> list[Attached]:
        """The attached documents of a table (of one partition, with ``pk``) whose names start
        with ``prefix``, in name order within each partition."""
        raise self._no_attached(table.name)

    def delete_attached(self, item: Attached) -> None:
        """Delete an attached document; one already gone is not an error."""
        raise self._no_attached(item.table.name)

    def _no_attached(self, table: str | None) -> Exception:
        from portafn.store.capabilities import Capability
        from portafn.store.errors import Unsupported

        return Unsupported(self.name, Capability.ATTACHED_DOCUMENTS.value, table)

    @abstractmethod
    def clear(self, table: TableSpec) -> None:
        """Delete every item of the table (tests use it to isolate data)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores have nothing to release
        """Release connections."""
