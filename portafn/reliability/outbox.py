"""The transactional outbox: publish if and only if the business write commits.

```python
outbox = Outbox(app)                      # once, at import time, next to app.table(...)

@app.http("POST", "/customers/{customer_id}/orders")
def create_order(customer_id: str, body: NewOrder, ctx: Context) -> Order:
    with transaction() as tx:
        tx.insert(orders, order)
        ctx.publish("order-created", order, key=customer_id, tx=tx)   # an outbox record in tx
    return order
```

A publish given ``tx=`` is written as an ``OutboxRecord`` in the same transaction as the business
write. A relay then sends each record with the runtime's publisher and deletes it: at least once
(a crash between sending and deleting sends again; the CloudEvent id is stable, so idempotent
consumers apply it once), and in order per ``key``.

Layout: records live in the ``portafn_outbox`` table, partition ``shard`` (one of ``shards``,
chosen by hashing the key, so the polling relay can list every pending record with one query per
shard and no scan), sort key ``<group>#<sequence>`` where ``group`` is a hash of the key: the
records of one key are contiguous and in publish order within their shard.

On a store whose transactions stay in one partition of one table (Cosmos DB), a record in a table
of its own could not join the business write. There, list the tables whose transactions publish,
``Outbox(app, tables=(orders,))``: each record is attached to the partition the transaction writes
(``Transaction.attach``; invisible to the table's reads and change functions) and relayed from that
table's change source by ``portafn_outbox_relay_<table>``. The sweep lists the attached records of
those tables; order per key and at least once hold the same way. On the other stores ``tables`` is
not needed and changes nothing.

Relaying, two ways, both registered on the app by ``Outbox(app)``:

- ``portafn_outbox_relay``, an ``@app.changes`` function on the outbox table: the store's change
  source (DynamoDB Streams, Cosmos change feed, Firestore document events; locally the client's
  ``deliver_changes``) calls it for each new record. Before sending a record it sends any older
  record of the same key still pending, so order holds even after a failed delivery.
- ``portafn_outbox_sweep``, an ``@app.schedule`` function: the polling fallback, which sends every
  pending record shard by shard, oldest first per key. It catches whatever the change source
  missed (a relay killed mid-way, a broker that was down).

``Relay`` runs the same logic as a loop in a process (``portafn dev``, stores without a change
source, and the crash tests).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from portafn.context import Context
from portafn.events import Change, Schedule
from portafn.log import redact_text
from portafn.reliability.publish import Outgoing, Publisher, PublishError, no_outbox, register_stager
from portafn.store.capabilities import Capability
from portafn.store.errors import Unsupported
from portafn.store.port import Attached, ChangeRecord, KeyValue, Store
from portafn.store.registry import current_store

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.table import Table
    from portafn.store.transaction import Transaction

TABLE_NAME = "portafn_outbox"
RELAY_FUNCTION = "portafn_outbox_relay"
SWEEP_FUNCTION = "portafn_outbox_sweep"
DEFAULT_SHARDS = 16
DEFAULT_SWEEP = "*/5 * * * *"
PAGE = 100

_registry: weakref.WeakKeyDictionary[App, Outbox] = weakref.WeakKeyDictionary()
_seq_lock = threading.Lock()
_last_seq = 0


class OutboxRecord(BaseModel):
    """One message waiting to be relayed.

    ``host`` and ``host_pk`` are set on records read from a table's partition (``tables=``): the
    table and partition that hold it.
    """

    shard: str
    sk: str
    group: str
    ordered: bool
    message: dict[str, Any]
    created_at: float
    host: str | None = None
    host_pk: str | int | None = None

    def outgoing(self) -> Outgoing:
        """The message to send."""
        return Outgoing.from_record(self.message)


@dataclass(frozen=True, slots=True)
class RelayResult:
    """How many records one relay pass sent, and whether it left some for later.

    ``failed`` counts the sends that failed and, as far as the pass knows, the records it held back
    behind them to keep their key's order; it is at least 1 whenever a send failed.
    """

    published: int = 0
    failed: int = 0
    error: str | None = None
    """The first failed send's error (its type and redacted message), for the log line."""


def _next_sequence() -> str:
    """Strictly increasing in this process; wall-clock nanoseconds across processes."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        value = _last_seq
    return f"{value:020d}-{uuid.uuid4().hex[:8]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Outbox:
    """An app's outbox: the table, staging inside transactions, and relaying.

    ``Outbox(app)`` declares the ``portafn_outbox`` table and (unless ``functions=False``) the
    relay and sweep functions; call it once at import time so packaging sees them.
    """

    def __init__(
        self,
        app: App,
        *,
        shards: int = DEFAULT_SHARDS,
        functions: bool = True,
        sweep_cron: str = DEFAULT_SWEEP,
        name: str = TABLE_NAME,
        tables: Sequence[Table[Any]] = (),
    ) -> None:
        if app in _registry:
            raise PublishError(f"app {app.name!r} already has an outbox")
        if not 1 <= shards <= 256:
            raise ValueError("shards must be between 1 and 256")
        for host in tables:
            if app.tables.get(host.name) is not host:
                raise PublishError(f"Outbox(tables=...) takes tables made by app {app.name!r}'s app.table()")
        self.app = app
        self.shards = shards
        self.tables: tuple[Table[Any], ...] = tuple(tables)
        # Without `tables`, a record joins business writes to other tables in one transaction: a
        # store whose transactions stay in one partition (Cosmos DB) is reported by `portafn check`.
        self.table: Table[OutboxRecord] = app.table(
            OutboxRecord,
            partition_key="shard",
            sort_key="sk",
            name=name,
            requires=() if self.tables else (Capability.TRANSACTIONS_ACROSS_PARTITIONS,),
        )
        _registry[app] = self
        register_stager(app, self.stage)
        if functions:
            self._register(sweep_cron)

    @classmethod
    def of(cls, app: App) -> Outbox:
        """The outbox declared for ``app``; ``PublishError`` if there is none."""
        try:
            return _registry[app]
        except KeyError:
            raise no_outbox(app) from None

    def _register(self, sweep_cron: str) -> None:
        outbox = self

        @self.app.changes(self.table, name=RELAY_FUNCTION)
        def portafn_outbox_relay(change: Change[Any], ctx: Context) -> None:
            """Relay a new outbox record (called by the store's change source)."""
            if change.kind == "insert":
                outbox.relay_key(str(change.key["shard"]), str(change.key["sk"]), _publisher(ctx))

        for host in self.tables:

            @self.app.changes(host, name=f"{RELAY_FUNCTION}_{host.name}", attached=True)
            def portafn_outbox_relay_host(change: Change[Any], ctx: Context) -> None:
                """Relay an outbox record attached to a partition of this table."""
                outbox.relay_attached(
                    change.table, change.key["partition"], str(change.key["name"]), _publisher(ctx)
                )

        @self.app.schedule(sweep_cron, name=SWEEP_FUNCTION)
        def portafn_outbox_sweep(ev: Schedule, ctx: Context) -> None:
            """Relay every pending outbox record (the polling fallback)."""
            result = outbox.sweep(_publisher(ctx))
            counts = {"published": result.published, "failed": result.failed}
            if result.failed:
                # A broker that keeps refusing must show in the logs, not only in a count.
                ctx.logger.warning(
                    "outbox sweep left records for later", extra={**counts, "error": result.error}
                )
            elif result.published:
                ctx.logger.info("outbox sweep", extra=counts)

    # -- writing ---------------------------------------------------------------------------------

    def record_for(self, message: Outgoing) -> OutboxRecord:
        """The outbox record of ``message``: shard and group from its key (its id when it has none)."""
        ordered = message.key is not None
        group = _digest(f"{message.topic}\x00{message.key}" if ordered else message.id)[:16]
        shard = f"{int(group, 16) % self.shards:03d}"
        return OutboxRecord(
            shard=shard,
            sk=f"{group}#{_next_sequence()}",
            group=group,
            ordered=ordered,
            message=message.to_record(),
            created_at=time.time(),
        )

    def stage(self, tx: Transaction, message: Outgoing) -> OutboxRecord:
        """Add ``message`` to transaction ``tx`` as an outbox record: in the outbox table, or
        attached to the partition ``tx`` writes on a store whose transactions stay in one."""
        record = self.record_for(message)
        if not self._in_partitions(tx.store):
            tx.insert(self.table, record)
            return record
        written = tx.partition
        if written is None:
            raise PublishError(
                f"on {tx.store.name} an outbox record lives in the partition its transaction writes: "
                "write to the table first, then publish with tx="
            )
        if written[0] not in {t.name for t in self.tables}:
            raise Unsupported(
                tx.store.name,
                Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
                written[0],
                f"list table {written[0]!r} in Outbox(app, tables=...) to keep its records in its partitions",
            )
        tx.attach(record.sk, record.model_dump(mode="json", exclude={"host", "host_pk"}))
        return record

    def _in_partitions(self, store: Store) -> bool:
        """Whether records live in the business tables' partitions on ``store`` (else in the outbox
        table); ``Unsupported`` when neither works there."""
        if store.capabilities.has(Capability.TRANSACTIONS_ACROSS_PARTITIONS):
            return False
        attaches = store.capabilities.has(Capability.ATTACHED_DOCUMENTS)
        if attaches and self.tables:
            return True
        raise Unsupported(
            store.name,
            Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
            self.table.name,
            "its transactions stay in one partition: list the tables whose transactions publish in "
            "Outbox(app, tables=...)"
            if attaches
            else "and it cannot keep records beside a partition",
        )

    def sources(self) -> list[Table[Any]]:
        """The tables whose change sources announce new records on the current store."""
        return list(self.tables) if self._in_partitions(current_store()) else [self.table]

    def _host(self, name: str) -> Table[Any]:
        for host in self.tables:
            if host.name == name:
                return host
        raise PublishError(f"table {name!r} is not one of the outbox's tables")

    def _attached_records(self, prefix: str = "") -> list[OutboxRecord]:
        store = current_store()
        found: list[OutboxRecord] = []
        for host in self.tables:
            for item in store.list_attached(host.spec, prefix=prefix):
                found.append(_from_attached(item))
        return sorted(found, key=lambda r: r.sk)

    # -- relaying --------------------------------------------------------------------------------

    def send(self, record: OutboxRecord, publisher: Publisher) -> None:
        """Publish one record, then delete it (a crash in between publishes it again: at least once)."""
        publisher.publish(record.outgoing())
        if record.host is None:
            self.table.delete(record.shard, record.sk)
            return
        host = self._host(record.host)
        assert record.host_pk is not None
        current_store().delete_attached(Attached(host.spec, record.host_pk, record.sk))

    def relay_record(self, record: OutboxRecord, publisher: Publisher) -> int:
        """Relay a pending record read from ``pending()`` (wherever it lives) and, first, any older
        pending record of its key. Returns how many records were sent."""
        if record.host is None:
            return self.relay_key(record.shard, record.sk, publisher)
        assert record.host_pk is not None
        return self.relay_attached(record.host, record.host_pk, record.sk, publisher)

    def relay_attached(self, table: str, pk: KeyValue, name: str, publisher: Publisher) -> int:
        """Relay the record ``name`` attached to partition ``pk`` of ``table`` and, first, any older
        pending record of its key. Returns how many records were sent (0: already relayed)."""
        host = self._host(table)
        mine = [r for r in current_store().list_attached(host.spec, pk=pk, prefix=name) if r.name == name]
        if not mine:
            return 0
        record = _from_attached(mine[0])
        if not record.ordered:
            self.send(record, publisher)
            return 1
        sent = 0
        for older in self._attached_records(prefix=f"{record.group}#"):
            if older.sk <= record.sk:
                self.send(older, publisher)
                sent += 1
        return sent

    def relay_key(self, shard: str, sk: str, publisher: Publisher) -> int:
        """Relay the record at (``shard``, ``sk``) and, first, any older pending record of its key.

        Returns how many records were sent (0 when it was already relayed).
        """
        record = self.table.get(shard, sk)
        if record is None:
            return 0  # already relayed (by the sweep, or an earlier delivery of this change)
        if not record.ordered:
            self.send(record, publisher)
            return 1
        sent = 0
        cursor: str | None = None
        while True:
            page = self.table.query(shard, between=(f"{record.group}#", sk), limit=PAGE, cursor=cursor)
            for older in page.items:
                self.send(older, publisher)
                sent += 1
            cursor = page.cursor
            if cursor is None:
                return sent

    def relay_change(self, change: ChangeRecord, publisher: Publisher) -> int:
        """Relay what one change-source record announces (inserts only; a business table's own
        items are not the outbox's)."""
        if change.kind != "insert":
            return 0
        if change.extra.get("attached"):
            return self.relay_attached(change.table, change.key.pk, str(change.key.sk), publisher)
        if change.table != self.table.name:
            return 0
        return self.relay_key(str(change.key.pk), str(change.key.sk), publisher)

    def pending(self) -> Iterator[OutboxRecord]:
        """Every pending record, in order within each key (shard by shard in the outbox table)."""
        if self._in_partitions(current_store()):
            yield from self._attached_records()
            return
        for shard in self._shard_names():
            cursor: str | None = None
            while True:
                page = self.table.query(shard, limit=PAGE, cursor=cursor)
                yield from page.items
                cursor = page.cursor
                if cursor is None:
                    break

    def sweep(self, publisher: Publisher) -> RelayResult:
        """Send every pending record. A failed send leaves that record and the later ones of its key
        for the next pass (order per key), and the sweep goes on with the other keys."""
        published = failed = 0
        error: str | None = None
        blocked: set[str] = set()
        for record in list(self.pending()):
            if record.group in blocked:
                failed += 1
                continue
            try:
                self.send(record, publisher)
                published += 1
            except Exception as exc:
                failed += 1
                error = error or f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
                if record.ordered:
                    blocked.add(record.group)
        return RelayResult(published, failed, error)

    def _shard_names(self) -> list[str]:
        return [f"{i:03d}" for i in range(self.shards)]


def _from_attached(item: Attached) -> OutboxRecord:
    record = OutboxRecord.model_validate(item.doc)
    return record.model_copy(update={"host": item.table.name, "host_pk": item.pk})


def _publisher(ctx: Context) -> Publisher:
    if ctx.runtime is None:
        raise PublishError("the outbox relay needs a Context made by a Runtime")
    return ctx.runtime.publisher


class Relay:
    """The outbox relay as a loop: follows the store's change source when it has one, and sweeps.

    ``start()`` recovers first: it notes the change source's current end, then sweeps everything
    pending (what a killed relay left), then follows changes from the noted point, so a record
    committed meanwhile is seen one way or the other. ``run_once()`` makes one pass; ``run()``
    loops until ``stop`` is set. Run one relay per outbox: two would each keep order but could
    interleave.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        *,
        use_changes: bool | None = None,
        sweep_every: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.use_changes = use_changes
        self.sweep_every = sweep_every
        self.cursors: dict[str, str | None] = {}
        self._last_sweep = 0.0
        self._started = False

    def _follows_changes(self) -> bool:
        if self.use_changes is None:
            self.use_changes = current_store().capabilities.has(Capability.CHANGE_SOURCE)
        return self.use_changes

    def start(self) -> RelayResult:
        """Recover: sweep what is pending, then follow changes from before the sweep."""
        from portafn.changes import tail_cursor

        if self._follows_changes():
            self.cursors = {t.name: tail_cursor(t) for t in self.outbox.sources()}
        self._started = True
        self._last_sweep = time.monotonic()
        return self.outbox.sweep(self.publisher)

    def run_once(self) -> RelayResult:
        """One pass: the new changes (or a sweep, without a change source, or when one is due)."""
        if not self._started:
            return self.start()
        if not self._follows_changes() or time.monotonic() - self._last_sweep >= self.sweep_every:
            self._last_sweep = time.monotonic()
            return self.outbox.sweep(self.publisher)
        published = failed = 0
        for source in self.outbox.sources():
            sent, ok = self._follow(source)
            published += sent
            failed += 0 if ok else 1
        return RelayResult(published, failed)

    def _follow(self, source: Table[Any]) -> tuple[int, bool]:
        """Relay the new changes of one source: how many were sent, and whether all went."""
        published = 0
        cursor = self.cursors.get(source.name)
        try:
            while True:
                records, next_cursor = source.read_changes(cursor, PAGE)
                if not records:
                    return published, True
                for change in records:
                    try:
                        published += self.outbox.relay_change(change, self.publisher)
                    except Exception:
                        # Keep the cursor before the failed change: the next pass retries it
                        # first, so nothing after it overtakes it.
                        return published, False
                    cursor = change.sequence
                cursor = next_cursor or cursor
        finally:
            self.cursors[source.name] = cursor

    def run(self, stop: threading.Event, *, interval: float = 0.2) -> None:
        """Relay until ``stop`` is set, pausing ``interval`` seconds between idle passes."""
        while not stop.is_set():
            result = self.run_once()
            if not result.published:
                stop.wait(interval)
