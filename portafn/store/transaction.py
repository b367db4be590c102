"""All-or-nothing writes across items and tables of one store.

```python
with transaction() as tx:
    tx.replace(accounts, debited, etag=a.etag)
    tx.replace(accounts, credited, etag=b.etag)
    tx.insert(transfers, record)
```

The block collects operations; leaving it normally commits them at once, leaving it with an
exception commits nothing. A failed condition cancels everything with ``TransactionConflict``
(``reasons`` says which operation failed and why). More operations than the store's
``max_transaction_items`` raise ``TooLarge``; a store without transactions raises ``Unsupported``
when the block is entered, and one whose transactions stay within one partition (Cosmos DB) raises
``Unsupported`` naming ``transactions: across partitions and tables`` when a second partition or
table joins. On such a store, ``attach`` keeps a document beside the partition the transaction
writes, committed with it (that is how the outbox works there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from portafn.store.capabilities import Capability
from portafn.store.errors import NotFound, TooLarge, TransactionConflict, Unsupported
from portafn.store.port import Attached, Check, Delete, Key, KeyValue, Put, Store, TableSpec, TransactOp
from portafn.store.registry import current_store
from portafn.store.retry import retry_transient
from portafn.store.rmw import UPDATE_POLICY, pause_before_retry
from portafn.store.table import Table


@dataclass(frozen=True, slots=True)
class _Update:
    """A read-modify-write in a transaction: what to read again and re-apply after a conflict."""

    table: Table[Any]
    pk: KeyValue
    sk: KeyValue | None
    fn: Callable[[Any], Any]


class Transaction:
    """The operations of one transaction, committed by ``commit`` (the ``with`` block does it)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ops: list[TransactOp] = []
        self._seen: dict[tuple[str, Key], int] = {}
        self._scope: tuple[str, KeyValue] | None = None
        self._scope_spec: TableSpec | None = None
        self._attached: list[tuple[str, dict[str, Any]]] = []
        self._updates: dict[int, _Update] = {}
        self.committed = False

    def _add(self, table: Table[Any], op: TransactOp) -> None:
        if self.committed:
            raise RuntimeError("this transaction has already been committed")
        limit = self.store.capabilities.max_transaction_items
        if len(self.ops) >= limit:
            raise TooLarge(
                self.store.name,
                table.name,
                op.key,
                f"a transaction holds at most {limit} operations on {self.store.name}",
            )
        where = (table.name, op.key)
        if where in self._seen:
            # DynamoDB and Firestore reject two operations on one item in a transaction; so do we,
            # so the rule is met before the code ever meets those stores.
            raise ValueError(
                f"transaction already has operation #{self._seen[where] + 1} on table {table.name!r} key {op.key}"
            )
        self._seen[where] = len(self.ops)
        table._ensure(self.store)
        scope = (table.name, op.key.pk)
        if self._scope is None:
            self._scope, self._scope_spec = scope, table.spec
        elif scope != self._scope and not self.store.capabilities.has(
            Capability.TRANSACTIONS_ACROSS_PARTITIONS
        ):
            raise Unsupported(
                self.store.name,
                Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
                table.name,
                f"this transaction already writes partition {self._scope[1]!r} of table {self._scope[0]!r}",
            )
        self.ops.append(op)

    def insert(self, table: Table[Any], item: Any) -> None:
        """Insert ``item``; the transaction fails if its key is taken."""
        key, doc = table._to_doc(item, self.store)
        self._add(table, Put(table.spec, key, doc, if_absent=True))

    def put(self, table: Table[Any], item: Any) -> None:
        """Put ``item`` unconditionally."""
        key, doc = table._to_doc(item, self.store)
        self._add(table, Put(table.spec, key, doc))

    def replace(self, table: Table[Any], item: Any, *, etag: str) -> None:
        """Replace ``item``; the transaction fails unless the stored one still has ``etag``."""
        self._conditional(table)
        key, doc = table._to_doc(item, self.store)
        self._add(table, Put(table.spec, key, doc, etag=etag))

    def update(self, table: Table[Any], pk: KeyValue, sk: KeyValue | None, fn: Callable[[Any], Any]) -> None:
        """Read the item, apply ``fn`` and replace it in this transaction, on its etag.

        If the commit fails because another writer changed the item, the items of every
        ``update`` in the transaction are read again, ``fn`` is re-applied to the ones that
        changed and the whole transaction is sent again, with ``Table.update``'s backoff and
        budget, stopping at the deadline (so ``fn`` must be free of side effects). The other
        operations are sent again as they were. ``NotFound`` if there is no item.
        """
        self._conditional(table)
        entry = _Update(table, pk, sk, fn)
        op = self._updated(entry)
        assert op is not None  # nothing was seen yet, so the item's replace is always made
        self._add(table, op)
        self._updates[len(self.ops) - 1] = entry

    def _updated(self, entry: _Update, seen: str | None = None) -> Put | None:
        """The replace for ``entry`` from the item as stored now; None if its etag is still ``seen``."""
        table = entry.table
        current = table.get_versioned(entry.pk, entry.sk)
        if current is None:
            raise NotFound(self.store.name, table.name, table.key(entry.pk, entry.sk))
        if current.etag == seen:
            return None
        new = entry.fn(current.item)
        key, doc = table._to_doc(new, self.store)
        if key != table.key(entry.pk, entry.sk):
            raise ValueError(f"update of table {table.name!r} must not change the item's key")
        return Put(table.spec, key, doc, etag=current.etag)

    def _refresh(self) -> bool:
        """Re-apply the updates whose items changed since they were read; whether any had."""
        changed = False
        for index, entry in self._updates.items():
            op = self.ops[index]
            fresh = self._updated(entry, op.etag if isinstance(op, Put) else None)
            if fresh is not None:
                self.ops[index] = fresh
                changed = True
        return changed

    def delete(
        self, table: Table[Any], pk: KeyValue, sk: KeyValue | None = None, *, etag: str | None = None
    ) -> None:
        """Delete an item (only if it still has ``etag``, when given)."""
        if etag is not None:
            self._conditional(table)
        self._add(table, Delete(table.spec, table.key(pk, sk), etag))

    def check(
        self,
        table: Table[Any],
        pk: KeyValue,
        sk: KeyValue | None = None,
        *,
        etag: str | None = None,
        exists: bool = True,
    ) -> None:
        """Require that an item exists (with ``etag``, when given) or, with ``exists=False``, does not."""
        if etag is not None and not exists:
            raise ValueError("check(exists=False) cannot also require an etag")
        self._add(table, Check(table.spec, table.key(pk, sk), etag, exists))

    @property
    def partition(self) -> tuple[str, KeyValue] | None:
        """The table name and partition key value of the transaction's first operation, if any."""
        return self._scope

    def attach(self, name: str, doc: dict[str, Any]) -> None:
        """Keep ``doc`` as ``name`` beside the partition this transaction writes, committed with it.

        For stores that claim ``Capability.ATTACHED_DOCUMENTS`` (Cosmos DB): the
        partition is the one the transaction's other operations write, known at commit. Tables
        never show attached documents; ``Store.list_attached`` reads them back.
        """
        if self.committed:
            raise RuntimeError("this transaction has already been committed")
        if not self.store.capabilities.has(Capability.ATTACHED_DOCUMENTS):
            raise self.store._no_attached(None)
        if any(n == name for n, _ in self._attached):
            raise ValueError(f"transaction already attaches {name!r}")
        self._attached.append((name, doc))

    def _conditional(self, table: Table[Any]) -> None:
        self.store.capabilities.require(self.store.name, Capability.CONDITIONAL_WRITES, table.name)

    def commit(self) -> None:
        """Apply every operation or none. An empty transaction does nothing."""
        if self.committed:
            raise RuntimeError("this transaction has already been committed")
        self.committed = True
        attempt = 1
        while True:
            try:
                self._send()
                return
            except TransactionConflict as exc:
                # Another writer won the race for an updated item (or, with no per-operation
                # reason, the store aborted for contention): read, re-apply, send again.
                if not self._updates or attempt >= UPDATE_POLICY.attempts:
                    raise
                if not self._refresh() and any(exc.reasons):
                    raise  # a condition failed that re-reading cannot fix
                pause_before_retry(self.store.name, exc.table or "", exc.key, attempt)
                attempt += 1

    def _send(self) -> None:
        ops = list(self.ops)
        # TransactionConflict is not transient, so only throttling and outages are retried.
        if self._attached:
            attached = self._attached_items()
            retry_transient(lambda: self.store.transact_attached(ops, attached))
        elif ops:
            retry_transient(lambda: self.store.transact(ops))

    def _attached_items(self) -> list[Attached]:
        if self._scope is None or self._scope_spec is None:
            raise ValueError(
                f"on {self.store.name} a transaction's attached documents (outbox records) live in the "
                "partition it writes: write or check an item in the transaction too"
            )
        limit = self.store.capabilities.max_transaction_items
        if len(self.ops) + len(self._attached) > limit:
            raise TooLarge(
                self.store.name,
                self._scope[0],
                None,
                f"{len(self.ops)} operations and {len(self._attached)} attached documents; "
                f"a transaction holds at most {limit} on {self.store.name}",
            )
        spec, pk = self._scope_spec, self._scope[1]
        return [Attached(spec, pk, name, doc) for name, doc in self._attached]


@contextmanager
def transaction() -> Iterator[Transaction]:
    """Collect writes and checks in the block and commit them all or none when it ends."""
    store = current_store()
    store.capabilities.require(store.name, Capability.TRANSACTIONS)
    tx = Transaction(store)
    yield tx
    tx.commit()
