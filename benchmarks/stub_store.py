"""The stubbed store of the warm benchmark: portafn's side of the peers' ``DictOrders``.

The peers stub their store with a dict: one key check and one assignment of the model's JSON
dump. portafn's memory store does far more per write (a lock, a deep copy in, a change-log copy,
a sorted index, a size measure), which is right for a test stand-in and wrong for a row that
means to show what the *framework* costs. This store does what the peers' dict does behind the
real ``Store`` port, so everything in front of it (``Table.insert``: the key checks, the model
dump, the size check against the declared limit, the retry wrapper) is still measured as
portafn's own cost. The memory store keeps its own row, so its share stays visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portafn.store.errors import AlreadyExists, ConcurrencyConflict, NotFound, Unsupported
from portafn.store.memory import LOCAL_CAPABILITIES
from portafn.store.port import (
    Key,
    KeyValue,
    Page,
    Put,
    Record,
    SortCondition,
    Store,
    TableSpec,
    TransactOp,
    Write,
)


class DictStore(Store):
    """A dict per table; conditional puts and deletes as the port defines them, nothing else."""

    scheme = "bench-dict"
    capabilities = LOCAL_CAPABILITIES  # DynamoDB's limits, as the memory store declares them

    def __init__(self, url: str = "bench-dict://") -> None:
        super().__init__(url)
        self._tables: dict[str, dict[tuple[KeyValue, KeyValue | None], tuple[dict[str, Any], str]]] = {}
        self._etag = 0

    def ensure_table(self, table: TableSpec) -> None:
        """Make the table's dict if missing."""
        self._tables.setdefault(table.name, {})

    def get(self, table: TableSpec, key: Key) -> Record | None:
        """The stored document, as stored."""
        found = self._tables[table.name].get((key.pk, key.sk))
        return Record(key, found[0], found[1]) if found else None

    def write(self, op: Write) -> str | None:
        """A put (``if_absent`` and ``etag`` honoured) or a delete."""
        items = self._tables[op.table.name]
        slot = (op.key.pk, op.key.sk)
        current = items.get(slot)
        if op.etag is not None:
            if current is None:
                raise NotFound(self.name, op.table.name, op.key)
            if current[1] != op.etag:
                raise ConcurrencyConflict(self.name, op.table.name, op.key)
        if not isinstance(op, Put):
            items.pop(slot, None)
            return None
        if op.if_absent and current is not None:
            raise AlreadyExists(self.name, op.table.name, op.key)
        self._etag += 1
        etag = str(self._etag)
        items[slot] = (op.doc, etag)
        return etag

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
        """Not needed by the benchmark."""
        raise Unsupported(self.name, "query", table.name)

    def transact(self, ops: Sequence[TransactOp]) -> None:
        """Not needed by the benchmark."""
        raise Unsupported(self.name, "transactions", ops[0].table.name if ops else None)

    def clear(self, table: TableSpec) -> None:
        """Forget every item of the table."""
        self._tables[table.name] = {}
