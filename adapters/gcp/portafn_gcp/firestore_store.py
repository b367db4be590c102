"""The Firestore store: ``firestore://PROJECT?database=NAME&prefix=PREFIX``.

One collection per table (``PREFIX`` + table name); each item is one document whose id encodes the
partition and sort key (``portafn_gcp.firestore_keys``). Conditional writes use update-time
preconditions (the etag *is* the document's ``update_time``); transactions read their documents
inside a Firestore transaction, check every condition, then write; batches are ``WriteBatch``es of
up to 500 writes. Queries run within one partition: ``where _pk ==`` plus the sort-key condition,
``order_by _sk``, ``limit`` and ``start_after`` (the composite index on ``_pk, _sk`` in both
directions is part of packaging; the emulator does not check indexes).

TTL: the item's TTL field is copied to the ``_expires`` timestamp, which the deployed TTL policy
targets; expired items are also hidden from reads, because Firestore deletes them lazily (and the
emulator never does).

Change source: deployed, changes arrive as Firestore document events (``portafn_gcp.events``).
``read_changes`` serves local runs and tests from an ``on_snapshot`` listener per table, started
on its first call: that call returns every item's latest version (as inserts), later calls each
change since, with writes to one document that land between two snapshots coalesced (so the store
claims the latest-version change source, not every version). To return every change committed
before the call, it writes a marker document (``~portafn-fence``) and waits, bounded, until the
listener has seen it. The listener starts lazily because an active listener slows every write to
its collection, in the emulator noticeably.

Set ``FIRESTORE_EMULATOR_HOST`` to use the emulator. The client is made once, on first use.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from portafn.lazy import Lazy
from portafn.store.capabilities import Capabilities, Capability
from portafn.store.cursor import decode_cursor, decode_sort_position, encode_cursor, query_scope, scan_scope
from portafn.store.deadline import call_deadline, remaining
from portafn.store.errors import (
    AccessDenied,
    AlreadyExists,
    ConcurrencyConflict,
    InvalidCursor,
    InvalidValue,
    NotFound,
    StoreError,
    StoreUnavailable,
    Throttled,
    TooLarge,
    TransactionConflict,
    Unsupported,
)
from portafn.store.port import (
    ChangeRecord,
    Check,
    Delete,
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
from portafn_gcp import firestore_keys as fk
from portafn_gcp import firestore_tx

if TYPE_CHECKING:
    from google.cloud.firestore_v1 import Client, CollectionReference, DocumentReference, DocumentSnapshot
    from google.cloud.firestore_v1.transaction import Transaction

FENCE_ID = "~portafn-fence"
MAX_BATCH = 500  # Firestore's limit on writes per batch or transaction
FEED_TIMEOUT_S = 10.0
SETTLE_S = 5.0  # how long a write whose answer was lost is watched for
SETTLE_POLL_S = 0.05


class FirestoreStore(Store):
    """Tables as Firestore collections (see the module docstring for the layout)."""

    scheme: ClassVar[str] = "firestore"
    capabilities = Capabilities(
        supported=frozenset(
            {
                Capability.CONDITIONAL_WRITES,
                Capability.TRANSACTIONS,
                # A Firestore transaction may touch any documents of any collections.
                Capability.TRANSACTIONS_ACROSS_PARTITIONS,
                Capability.BATCH,
                Capability.TTL,
                # Not CHANGE_SOURCE_EVERY_VERSION: deployed document events are at least once and
                # unordered, and the local listener may coalesce writes between two snapshots.
                Capability.CHANGE_SOURCE,
                Capability.QUERY_EQ,
                Capability.QUERY_BEGINS_WITH,
                Capability.QUERY_BETWEEN,
                Capability.QUERY_RANGE,
                Capability.QUERY_DESCENDING,
                Capability.SCAN,
            }
        ),
        max_transaction_items=MAX_BATCH,
        batch_write_size=MAX_BATCH,
        batch_get_size=100,
        # Firestore's limit is 1 MiB per document; the envelope and field names take some of it.
        max_item_bytes=1_000_000,
        local_gaps={
            Capability.TTL: "the Firestore emulator never deletes expired documents (reads hide them)",
        },
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        if parts.scheme != "firestore":
            raise ValueError(f"not a firestore:// URL: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.project = parts.netloc or None
        self.database = query.get("database") or "(default)"
        self.prefix = query.get("prefix", "")
        self._client: Lazy[Client] = Lazy(self._connect)
        self._lock = threading.Lock()
        self._feeds: dict[str, _Feed] = {}

    # -- client and collections -----------------------------------------------------------------

    def _connect(self) -> Client:
        from google.cloud import firestore

        return firestore.Client(project=self.project, database=self.database)

    @property
    def client(self) -> Client:
        """The Firestore client, made on first use."""
        return self._client.get()

    def collection(self, table: TableSpec) -> CollectionReference:
        """The collection that holds a table."""
        return self.client.collection(self.prefix + table.name)

    def _ref(self, table: TableSpec, key: Key) -> DocumentReference:
        _check_key(self, table, key)
        return self.collection(table).document(fk.doc_id(key))

    # -- port ---------------------------------------------------------------------------------

    def ensure_table(self, table: TableSpec) -> None:
        """Collections need no creating (their TTL policy and indexes are part of deployment)."""

    def _feed(self, table: TableSpec) -> _Feed:
        """The table's change listener, started on first use."""
        with self._lock:
            feed = self._feeds.get(table.name)
        if feed is not None:
            return feed
        feed = _Feed(self, table)
        with self._lock:
            if table.name in self._feeds:
                feed.close()
                return self._feeds[table.name]
            self._feeds[table.name] = feed
        return feed

    def get(self, table: TableSpec, key: Key) -> Record | None:
        ref = self._ref(table, key)
        with self._errors(table, key):
            snap = ref.get(retry=None, timeout=remaining())
        return self._record(table, snap)

    def write(self, op: Write) -> str | None:
        table, key = op.table, op.key
        ref = self._ref(table, key)
        if isinstance(op, Delete):
            self._delete(ref, op)
            return None
        body = self._body(op)
        with self._errors(table, key):
            if op.if_absent:
                result = self._insert(ref, op, body)
            elif op.etag is not None:
                result = self._conditional_put(ref, op, body)
            else:
                result = ref.set(body, retry=None, timeout=remaining())
        return _etag(result.update_time)

    def _once(
        self, ref: DocumentReference, body: dict[str, Any], base: str | None, call: Callable[[], Any]
    ) -> Any:
        """Run a conditional write with no blind retry; settle a lost answer by reading.

        A retried conditional write whose first attempt did commit would fail its own
        precondition, and a caller retrying the read-modify-write would then apply it twice. So
        the SDK does not retry, and when the answer is lost (UNAVAILABLE, DEADLINE_EXCEEDED,
        INTERNAL, UNKNOWN: the emulator gives the last one under load) the write's token (``_w``)
        and base etag (``_b``) say what happened: only one write conditioned on a version can land.
        """
        from google.api_core import exceptions as gexc

        definite = (
            gexc.FailedPrecondition,
            gexc.NotFound,
            gexc.Conflict,
            gexc.InvalidArgument,
            gexc.PermissionDenied,
            gexc.Unauthenticated,
            gexc.ResourceExhausted,
        )
        try:
            return call()
        except definite:
            raise
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            return self._settle(ref, body, base, _short(exc))

    def _insert(self, ref: DocumentReference, op: Put, body: dict[str, Any]) -> Any:
        """Create the document; an expired one in the way does not hold its key.

        Firestore deletes expired documents lazily (the emulator never does), and reads already
        hide them, so an insert must not fail on one: it takes the document over with an update
        conditioned on the expired version's update time. If another writer changed or removed
        it first, the key is taken (or free again, and the caller's retry will create it).
        """
        from google.api_core import exceptions as gexc

        try:
            return self._once(ref, body, None, lambda: ref.create(body, retry=None, timeout=remaining()))
        except gexc.Aborted:
            raise
        except gexc.Conflict:
            snap = ref.get(retry=None, timeout=remaining())
            if not snap.exists or self._record(op.table, snap) is not None:
                raise  # live (or just deleted, which a retry answers): the key is taken now
        base = _etag(snap.update_time)
        option = self.client.write_option(last_update_time=snap.update_time)
        takeover = {**_replacing(body), fk.BASE: base}
        try:
            return self._once(
                ref,
                takeover,
                base,
                lambda: ref.update(takeover, option=option, retry=None, timeout=remaining()),
            )
        except (gexc.FailedPrecondition, gexc.NotFound):
            raise AlreadyExists(
                self.name, op.table.name, op.key.as_dict(op.table), "taken while replacing an expired item"
            ) from None

    def _settle(self, ref: DocumentReference, body: dict[str, Any], base: str | None, why: str) -> Any:
        deadline = min(time.monotonic() + SETTLE_S, call_deadline())
        while True:
            snap = ref.get(retry=None, timeout=remaining())
            data = snap.to_dict() if snap.exists else None
            if data is not None and data.get(fk.TOKEN) == body[fk.TOKEN]:
                return snap  # it landed
            if data is not None and base is None:
                raise AlreadyExists(self.name, None, None, "the key was taken while the answer was lost")
            if base is not None and (data is None or _etag(snap.update_time) != base):
                if data is None:
                    raise NotFound(self.name, None, None, "the item went while the answer was lost")
                if data.get(fk.BASE) == base:
                    # Another write from the same version won: ours can never land now.
                    raise ConcurrencyConflict(self.name, None, None)
                raise StoreError(self.name, None, None, f"outcome of a conditional write unknown ({why})")
            if time.monotonic() > deadline:
                # Still at the base version: ours has not landed, and a retry is safe (only one
                # write conditioned on this version can ever land).
                raise StoreUnavailable(self.name, None, None, f"write did not land ({why})")
            time.sleep(SETTLE_POLL_S)

    def _conditional_put(self, ref: DocumentReference, op: Put, body: dict[str, Any]) -> Any:
        from google.api_core import exceptions as gexc

        assert op.etag is not None
        when = _parse_etag(op.etag)
        if when is None:
            raise self._stale(ref, op.table, op.key)
        option = self.client.write_option(last_update_time=when)
        body = {**_replacing(body), fk.BASE: op.etag}
        try:
            # update() of the envelope's top-level fields replaces them whole (a map field too),
            # under a precondition that the document still has the update time we read.
            return self._once(
                ref, body, op.etag, lambda: ref.update(body, option=option, retry=None, timeout=remaining())
            )
        except (gexc.FailedPrecondition, gexc.NotFound):
            raise self._stale(ref, op.table, op.key) from None
        except gexc.InvalidArgument:
            # INVALID_ARGUMENT ("Invalid base version") is how Firestore refuses an update time
            # that is not a version of this document, such as another item's etag.
            raise self._stale(ref, op.table, op.key, op.etag) from None

    def _delete(self, ref: DocumentReference, op: Delete) -> None:
        from google.api_core import exceptions as gexc

        with self._errors(op.table, op.key):
            if op.etag is None:
                ref.delete(retry=None, timeout=remaining())
                return
            when = _parse_etag(op.etag)
            if when is None:
                raise self._stale(ref, op.table, op.key)
            try:
                ref.delete(
                    option=self.client.write_option(last_update_time=when), retry=None, timeout=remaining()
                )
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise self._stale(ref, op.table, op.key) from None
            except gexc.InvalidArgument:  # another document's version: see _conditional_put
                raise self._stale(ref, op.table, op.key, op.etag) from None
            except (
                gexc.ServiceUnavailable,
                gexc.DeadlineExceeded,
                gexc.InternalServerError,
                gexc.Unknown,
            ) as exc:
                # Lost answer: gone now means the delete (ours, or one it raced) is done.
                if ref.get(retry=None, timeout=remaining()).exists:
                    raise StoreUnavailable(self.name, op.table.name, None, _short(exc)) from None

    def _stale(
        self, ref: DocumentReference, table: TableSpec, key: Key, refused: str | None = None
    ) -> StoreError:
        """Why a conditional write failed: "gone" or "changed", as a read tells.

        ``refused``: the etag of a write refused as an invalid argument. If the item still has
        that very version, the refusal was about the write itself, not the condition.
        """
        with self._errors(table, key):
            snap = ref.get(retry=None, timeout=remaining())
        record = self._record(table, snap)
        where = (self.name, table.name, key.as_dict(table))
        if record is None:
            return NotFound(*where)
        if refused is not None and record.etag == refused:
            return StoreError(*where, "Firestore refused the write as an invalid argument")
        return ConcurrencyConflict(*where)

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
        from google.cloud.firestore_v1 import Query
        from google.cloud.firestore_v1.base_query import FieldFilter

        if limit < 1:
            raise ValueError("limit must be at least 1")
        scope = query_scope(table.name, pk, condition, descending)
        after = (
            decode_sort_position(cursor, scope=scope, store=self.name, table=table.name)
            if cursor is not None
            else None
        )
        q: Any = self.collection(table).where(filter=FieldFilter(fk.PK, "==", pk))
        if table.sort_key is not None:
            for op, value in _sort_filters(self, table, condition):
                q = q.where(filter=FieldFilter(fk.SK, op, value))
            q = q.order_by(fk.SK, direction=Query.DESCENDING if descending else Query.ASCENDING)
        elif after is not None:
            return Page([], None)  # a partition without sort key holds one item, all on page one
        with self._errors(table, pk):
            records, more = self._read_page(q, table, after, limit)
        if more and records:
            last = records[-1]
            return Page(records, encode_cursor(last.key.sk if last.key.sk is not None else "", scope=scope))
        return Page(records, None)

    def _read_page(self, q: Any, table: TableSpec, after: Any, limit: int) -> tuple[list[Record], bool]:
        """Up to ``limit`` records after the sort key ``after``, and whether more follow.

        Each read asks for one more than the page still needs, so the end is known exactly.
        Expired items still stored are skipped and do not fill the page: when a full read was
        partly skipped, the next read starts after the last document seen.
        """
        records: list[Record] = []
        while True:
            wanted = limit + 1 - len(records)
            page_q = q.start_after({fk.SK: after}) if after is not None else q
            seen = 0
            for snap in page_q.limit(wanted).stream(retry=None, timeout=remaining()):
                seen += 1
                if table.sort_key is not None:
                    after = snap.get(fk.SK)
                rec = self._record(table, snap)
                if rec is None:
                    continue
                if len(records) == limit:
                    return records, True
                records.append(rec)
            if seen < wanted or table.sort_key is None:
                return records, False

    def scan(self, table: TableSpec, *, limit: int, cursor: str | None) -> Page:
        """The collection in document-id order (no index needed); the cursor is the last id."""
        scope = scan_scope(table.name)
        after: Any = None
        if cursor is not None:
            after = decode_cursor(cursor, scope=scope, store=self.name, table=table.name)
            if not (isinstance(after, str) and 0 < len(after) <= 1500 and "/" not in after):
                raise InvalidCursor(self.name, table.name, detail="not a cursor this store made")
        records: list[Record] = []
        last_id: str | None = None
        # Skipped documents (expired, the change fence) do not fill a page: read on until it is.
        while True:
            snaps = self._scan_batch(table, after, limit + 1)
            for snap in snaps:
                rec = self._record(table, snap) if snap.id != FENCE_ID else None
                if rec is None:
                    continue
                if len(records) == limit:
                    return Page(records, encode_cursor(last_id, scope=scope))
                records.append(rec)
                last_id = snap.id
            if len(snaps) <= limit:
                return Page(records, None)
            after = snaps[-1].id

    def _scan_batch(self, table: TableSpec, after: str | None, size: int) -> list[Any]:
        coll = self.collection(table)
        q: Any = coll.order_by("__name__")
        if after is not None:
            q = q.start_after({"__name__": coll.document(after)})
        with self._errors(table, None):
            return list(q.limit(size).stream(retry=None, timeout=remaining()))

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        if len(keys) > self.capabilities.batch_get_size:
            raise TooLarge(
                self.name,
                table.name,
                None,
                f"batch_get takes at most {self.capabilities.batch_get_size} keys",
            )
        refs = [self._ref(table, k) for k in keys]
        if not refs:
            return [], []
        with self._errors(table, None):
            snaps = list(self.client.get_all(refs, retry=None, timeout=remaining()))
        found = [r for r in (self._record(table, s) for s in snaps) if r is not None]
        return found, []

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        if len(ops) > MAX_BATCH:
            raise TooLarge(self.name, None, None, f"a batch takes at most {MAX_BATCH} writes")
        if not ops:
            return []
        if any(op.etag is not None or (isinstance(op, Put) and op.if_absent) for op in ops):
            raise ValueError("batch_write takes unconditional writes only; use transact()")
        refs = [self._ref(op.table, op.key) for op in ops]
        batch = self.client.batch()
        with self._errors(ops[0].table, None):  # the SDK encodes values as they are added
            for op, ref in zip(ops, refs, strict=True):
                if isinstance(op, Delete):
                    batch.delete(ref)
                else:
                    batch.set(ref, self._body(op))
            batch.commit(retry=None, timeout=remaining())
        return []

    def transact(self, ops: Sequence[TransactOp]) -> None:
        if len(ops) > MAX_BATCH:
            raise TooLarge(self.name, None, None, f"a transaction takes at most {MAX_BATCH} operations")
        if not ops:
            return
        refs = [self._ref(op.table, op.key) for op in ops]
        paths = [r.path for r in refs]
        if len(set(paths)) != len(paths):
            raise ValueError("a transaction may touch each item once")
        bodies = [self._body(op) if isinstance(op, Put) else None for op in ops]
        if all(isinstance(op, Put) and op.if_absent for op in ops) and self._create_all(ops, refs, bodies):
            return
        writes = [(r, b) for op, r, b in zip(ops, refs, bodies, strict=True) if not isinstance(op, Check)]

        def written() -> bool:
            return firestore_tx.landed(self.client, [r for r, _ in writes], [b for _, b in writes])

        with self._errors(ops[0].table, None):
            try:
                reasons = firestore_tx.run(
                    self.client, lambda tx: self._apply(tx, ops, refs, bodies), written
                )
            except firestore_tx.Exhausted as exc:
                raise TransactionConflict(self.name, None, None, "contention: " + str(exc)[:200]) from None
            except firestore_tx.CommitUnknown as exc:
                raise StoreUnavailable(
                    self.name, ops[0].table.name, None, "outcome unknown: " + str(exc)
                ) from None
        if any(reasons):
            failed = next(r for r in reasons if r is not None)
            raise TransactionConflict(self.name, failed.table, failed.key, failed.summary, reasons=reasons)

    def _apply(
        self,
        tx: Transaction,
        ops: Sequence[TransactOp],
        refs: Sequence[DocumentReference],
        bodies: Sequence[dict[str, Any] | None],
    ) -> list[StoreError | None]:
        """Inside a transaction: read the documents, check every condition, and stage the writes
        only when all of them hold (otherwise nothing is written and the reasons say why)."""
        snaps = {
            s.reference.path: s for s in tx.get_all(list(refs), retry=None, timeout=firestore_tx.slice_s())
        }
        reasons = [self._reason(op, snaps.get(ref.path)) for op, ref in zip(ops, refs, strict=True)]
        if any(reasons):
            return reasons
        for op, ref, body in zip(ops, refs, bodies, strict=True):
            if isinstance(op, Put) and body is not None:
                tx.set(ref, body)
            elif isinstance(op, Delete):
                tx.delete(ref)
        return reasons

    def _create_all(
        self,
        ops: Sequence[TransactOp],
        refs: Sequence[DocumentReference],
        bodies: Sequence[dict[str, Any] | None],
    ) -> bool:
        """Commit a transaction of inserts only as one batch of ``create`` writes; False: let the
        transaction decide.

        A batch is atomic and each ``create`` carries the precondition "does not exist", so this is
        the same all-or-nothing insert with no reads. Reading in a transaction locks: when several
        writers race to insert the same key (appenders to one event stream), the emulator aborts
        every one of them again and again and nobody wins. On any refusal the transaction runs
        instead, to find which key was taken (or that an expired item was in the way). A lost
        answer is settled by reading the documents' write tokens: a batch lands whole or not at all.
        """
        from google.api_core import exceptions as gexc

        batch = self.client.batch()
        for ref, body in zip(refs, bodies, strict=True):
            if body is None:  # only inserts come here, and every insert has a body
                return False
            batch.create(ref, body)
        try:
            batch.commit(retry=None, timeout=remaining())
            return True
        except gexc.Conflict:
            return False
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            with self._errors(ops[0].table, None):
                snaps = {
                    s.reference.path: s
                    for s in self.client.get_all(list(refs), retry=None, timeout=remaining())
                }
            tokens = [
                (snaps[r.path].to_dict() or {}).get(fk.TOKEN)
                if r.path in snaps and snaps[r.path].exists
                else None
                for r in refs
            ]
            if all(body is not None and t == body[fk.TOKEN] for t, body in zip(tokens, bodies, strict=True)):
                return True
            raise StoreUnavailable(self.name, ops[0].table.name, None, _short(exc)) from None

    def _reason(self, op: TransactOp, snap: DocumentSnapshot[Any] | None) -> StoreError | None:
        table, key = op.table, op.key
        record = self._record(table, snap) if snap is not None else None
        where = (self.name, table.name, key.as_dict(table))
        if isinstance(op, Check) and not op.exists:
            return AlreadyExists(*where) if record is not None else None
        if isinstance(op, Put) and op.if_absent:
            return AlreadyExists(*where) if record is not None else None
        etag = op.etag
        if isinstance(op, Check) and record is None:
            return NotFound(*where)
        if etag is not None:
            if record is None:
                return NotFound(*where)
            if record.etag != etag:
                return ConcurrencyConflict(*where)
        return None

    def read_changes(
        self, table: TableSpec, cursor: str | None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        feed = self._feed(table)
        start = 0
        if cursor is not None:
            try:
                start = int(cursor)
            except ValueError:
                raise InvalidCursor(
                    self.name, table.name, detail="not a change cursor this store made"
                ) from None
        fence = self.collection(table).document(FENCE_ID)
        with self._errors(table, None):
            result = fence.set({"at": datetime.now(UTC)})
        if not feed.wait_past(result.update_time, FEED_TIMEOUT_S):
            raise StoreUnavailable(self.name, table.name, None, "the change listener did not catch up")
        records = feed.since(start, limit)
        return records, str(start + len(records))

    def clear(self, table: TableSpec) -> None:
        coll = self.collection(table)
        with self._errors(table, None):
            while True:
                refs = [s.reference for s in coll.select([]).limit(MAX_BATCH).stream()]
                if not refs:
                    break
                batch = self.client.batch()
                for ref in refs:
                    batch.delete(ref)
                batch.commit()

    def close(self) -> None:
        with self._lock:
            feeds, self._feeds = list(self._feeds.values()), {}
        client = self._client.reset()
        for feed in feeds:
            feed.close()
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]

    # -- helpers ------------------------------------------------------------------------------

    def _body(self, op: Put) -> dict[str, Any]:
        _check_key(self, op.table, op.key)
        size = len(json.dumps(op.doc, separators=(",", ":"), default=str).encode())
        if size > self.capabilities.max_item_bytes:
            raise TooLarge(
                self.name,
                op.table.name,
                op.key.as_dict(op.table),
                f"{size} bytes; the limit is {self.capabilities.max_item_bytes}",
            )
        problem = fk.value_problem(op.doc)
        if problem is not None:
            raise InvalidValue(self.name, op.table.name, op.key.as_dict(op.table), problem)
        body = {**fk.envelope(op.table, op.key, op.doc), fk.TOKEN: uuid.uuid4().hex}
        stored = fk.document_size(self.prefix + op.table.name + "/" + fk.doc_id(op.key), body)
        if stored > fk.MAX_DOCUMENT_BYTES:
            raise TooLarge(
                self.name,
                op.table.name,
                op.key.as_dict(op.table),
                f"{stored} bytes as stored; Firestore takes {fk.MAX_DOCUMENT_BYTES}",
            )
        return body

    def _record(self, table: TableSpec, snap: DocumentSnapshot[Any]) -> Record | None:
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        expires = data.get(fk.EXPIRES)
        if isinstance(expires, datetime) and expires <= datetime.now(UTC):
            return None  # past its TTL: Firestore deletes lazily, so hide it as DynamoDB users expect
        doc = fk.unwrap(data) or {}
        return Record(fk.key_of(snap.id, data), _plain(doc), _etag(snap.update_time))

    @contextmanager
    def _errors(self, table: TableSpec | None, key: Any) -> Iterator[None]:
        """Map google exceptions to portafn store errors."""
        from google.api_core import exceptions as gexc

        name = table.name if isinstance(table, TableSpec) else None
        where_key = key.as_dict(table) if isinstance(key, Key) and isinstance(table, TableSpec) else key
        try:
            yield
        except StoreError:
            raise
        except gexc.Conflict as exc:  # ALREADY_EXISTS from create(); ABORTED is a subclass too
            if isinstance(exc, gexc.Aborted):
                raise ConcurrencyConflict(self.name, name, where_key, "aborted by contention") from None
            raise AlreadyExists(self.name, name, where_key) from None
        except gexc.NotFound:
            raise NotFound(self.name, name, where_key) from None
        except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
            raise AccessDenied(self.name, name, where_key, _short(exc)) from None
        except gexc.FailedPrecondition:
            raise ConcurrencyConflict(self.name, name, where_key) from None
        except (gexc.ResourceExhausted, gexc.TooManyRequests) as exc:
            raise Throttled(self.name, name, where_key, _short(exc)) from None
        except gexc.InvalidArgument as exc:  # sizes are checked before writing (see _body)
            raise StoreError(self.name, name, where_key, _short(exc)) from None
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise StoreUnavailable(self.name, name, where_key, _short(exc)) from None
        except (TypeError, ValueError) as exc:
            # The SDK could not encode a value (an array inside an array, say).
            if "transaction" in str(exc).lower():
                raise
            raise StoreError(self.name, name, where_key, "cannot store this value: " + _short(exc)) from None


class _Feed:
    """A table's change log, fed by an ``on_snapshot`` listener on its collection."""

    def __init__(self, store: FirestoreStore, table: TableSpec) -> None:
        self.store = store
        self.table = table
        self.cond = threading.Condition()
        self.log: list[ChangeRecord] = []
        self.images: dict[str, dict[str, Any]] = {}
        self.read_time: datetime | None = None
        self.first = True
        self.watch = store.collection(table).on_snapshot(self._on_snapshot)
        if not self.wait_past(None, FEED_TIMEOUT_S):
            self.close()
            raise StoreUnavailable(store.name, table.name, None, "the change listener did not start")

    def _on_snapshot(self, docs: list[Any], changes: list[Any], read_time: datetime) -> None:
        with self.cond:
            if self.first:
                # The first snapshot lists what is there: each item's latest version, as an insert.
                for change in changes:
                    self._apply(change, read_time)
                self.first = False
            else:
                for change in changes:
                    self._apply(change, read_time)
            self.read_time = read_time
            self.cond.notify_all()

    def _apply(self, change: Any, read_time: datetime) -> None:
        snap = change.document
        if snap.id == FENCE_ID:
            return
        kind_name = change.type.name
        old = self.images.get(snap.id)
        stored = snap.to_dict() if snap.exists else None
        if kind_name == "REMOVED":
            self.images.pop(snap.id, None)
            kind, new = "remove", None
        else:
            new = _plain(fk.unwrap(stored) or {})
            self.images[snap.id] = new
            kind = "insert" if kind_name == "ADDED" else "modify"
        try:
            key = fk.key_of(snap.id, stored)
        except ValueError:
            return  # not an item of ours
        when = getattr(snap, "update_time", None) or read_time
        self.log.append(
            ChangeRecord(
                table=self.table.name,
                kind=kind,  # type: ignore[arg-type]
                key=key,
                old=old,
                new=new,
                sequence=f"{len(self.log) + 1:020d}",
                time=when,
                extra={"document_id": snap.id},
            )
        )

    def wait_past(self, when: datetime | None, timeout: float) -> bool:
        """Wait until the listener has a snapshot at or after ``when`` (None: any snapshot)."""

        def caught_up() -> bool:
            return self.read_time is not None and (when is None or self.read_time >= when)

        with self.cond:
            return self.cond.wait_for(caught_up, timeout=timeout)

    def since(self, start: int, limit: int) -> list[ChangeRecord]:
        with self.cond:
            return list(self.log[start : start + limit])

    def close(self) -> None:
        # The stream may already be gone; closing must not fail.
        with contextlib.suppress(Exception):
            self.watch.unsubscribe()  # type: ignore[no-untyped-call]


def _replacing(body: dict[str, Any]) -> dict[str, Any]:
    """An envelope for ``update()`` that replaces the stored one: ``update`` keeps top-level
    fields it is not given, so a TTL the new item no longer has must be deleted explicitly."""
    if fk.EXPIRES in body:
        return body
    from google.cloud.firestore_v1 import DELETE_FIELD

    return {**body, fk.EXPIRES: DELETE_FIELD}


def _check_key(store: Store, table: TableSpec, key: Key) -> None:
    if (table.sort_key is None) != (key.sk is None):
        need = "a sort key" if table.sort_key is not None else "no sort key"
        raise ValueError(f"{store.name}: table {table.name!r} needs {need} in its keys")


def _sort_filters(store: Store, table: TableSpec, cond: SortCondition | None) -> list[tuple[str, KeyValue]]:
    if cond is None:
        return []
    if cond.op == "eq":
        return [("==", cond.value)]
    if cond.op == "begins_with":
        if not isinstance(cond.value, str):
            raise Unsupported(
                store.name, Capability.QUERY_BEGINS_WITH.value, table.name, "on a non-string sort key"
            )
        upper = fk.prefix_upper_bound(cond.value)
        out: list[tuple[str, KeyValue]] = [(">=", cond.value)]
        return out + ([("<", upper)] if upper is not None else [])
    if cond.op == "between":
        if cond.high is None:
            raise ValueError("between needs a high value")
        return [(">=", cond.value), ("<=", cond.high)]
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    return [(ops[cond.op], cond.value)]


def _etag(when: Any) -> str:
    """An etag from a document's update time: its RFC 3339 form with nanoseconds."""
    rfc = getattr(when, "rfc3339", None)
    if callable(rfc):
        return str(rfc())
    if isinstance(when, datetime):
        return when.astimezone(UTC).isoformat()
    return str(when)


def _parse_etag(etag: str) -> Any:
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds

    try:
        return DatetimeWithNanoseconds.from_rfc3339(etag)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return None


def _plain(value: Any) -> Any:
    """Firestore values back to JSON ones (timestamps only appear if someone else wrote them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


__all__ = ["FirestoreStore"]
