"""``sqlite:///path``: the embedded store, a SQLite file in WAL mode.

- ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling);
  ``sqlite://`` or ``sqlite:///:memory:`` use a temporary file removed by ``close()`` (a real
  file, because each thread has its own connection and ``:memory:`` would give each its own
  database).
- One connection per thread; every write runs in ``BEGIN IMMEDIATE``, so conditional writes and
  transactions are serialised by SQLite's write lock and safe across threads and processes.
- Etags are the sequence number of the change that wrote the item: unique, never reused.
- A change log table feeds ``read_changes``; TTL is hidden on read by the table layer and swept
  here, at most once a ``sweep_interval``, on writes (each sweep logs ``remove`` changes and
  trims the change log to its newest ``change_log_rows``).

Limits copy DynamoDB's, like the memory store, so local runs are sized for every cloud.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from portafn.store.cursor import change_sequence, decode_sort_position, encode_cursor, query_scope, scan_scope
from portafn.store.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    NotFound,
    StoreError,
    StoreUnavailable,
    Throttled,
    TooLarge,
    TransactionConflict,
)
from portafn.store.memory import (
    LOCAL_CAPABILITIES,
    expiry_of,
    scan_position,
    sequence_text,
)
from portafn.store.port import (
    ChangeKind,
    ChangeRecord,
    Check,
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portafn_tables (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
-- pk and sk have no declared type: no affinity, so '1' and 1 stay different keys and ints sort
-- as numbers, text as UTF-8 bytes (BINARY collation). Tables without a sort key use sk = ''.
CREATE TABLE IF NOT EXISTS portafn_items (
    tbl TEXT NOT NULL,
    pk NOT NULL,
    sk NOT NULL,
    doc TEXT NOT NULL,
    etag TEXT NOT NULL,
    expires REAL,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS portafn_items_expires ON portafn_items (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS portafn_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    kind TEXT NOT NULL,
    pk NOT NULL,
    sk NOT NULL,
    old TEXT,
    new TEXT,
    time REAL NOT NULL,
    expired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS portafn_changes_tbl ON portafn_changes (tbl, seq);
"""


class SqliteStore(Store):
    """The embedded store: one SQLite file, WAL, one connection per thread."""

    scheme = "sqlite"
    capabilities = LOCAL_CAPABILITIES
    sweep_interval = 60.0
    busy_timeout = 30.0
    change_log_rows = 1_000_000

    def __init__(self, url: str = "sqlite://") -> None:
        super().__init__(url)
        self._tempdir: str | None = None
        self.path = self._path(url)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._last_sweep = time.monotonic()
        self._closed = False
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _path(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "sqlite":
            raise ValueError(f"not a sqlite URL: {url!r}")
        raw = unquote(parts.path)
        if parts.netloc and parts.netloc != ":memory:":
            raise ValueError(f"sqlite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute.db")
        path = raw[1:] if raw.startswith("/") else raw
        if parts.netloc == ":memory:" or path in ("", ":memory:"):
            self._tempdir = tempfile.mkdtemp(prefix="portafn-sqlite-")
            return os.path.join(self._tempdir, "store.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return path

    # -- connections -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreUnavailable(self.name, None, None, "store is closed")
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the
            # last commits, which is the right trade for a local development store.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except sqlite3.OperationalError as exc:
            raise self._mapped(exc) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the write lock first, so the reads that
        check conditions and the writes that follow see no other writer in between."""
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _mapped(self, exc: sqlite3.OperationalError) -> StoreError:
        # By the result code (Python 3.11+ carries it), not the message.
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return Throttled(self.name, None, None, "database is locked by another writer", retry_after=0.05)
        return StoreUnavailable(self.name, None, None, f"sqlite: {exc}")

    def close(self) -> None:
        """Close every thread's connection (and remove a temporary database)."""
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _sk(key: Key) -> Any:
        return key.sk if key.sk is not None else ""

    def _current(self, conn: sqlite3.Connection, spec: TableSpec, key: Key) -> tuple[str, str] | None:
        row = conn.execute(
            "SELECT doc, etag FROM portafn_items WHERE tbl = ? AND pk = ? AND sk = ?",
            (spec.name, key.pk, self._sk(key)),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _problem(self, conn: sqlite3.Connection, op: TransactOp) -> StoreError | None:
        cur = self._current(conn, op.table, op.key)
        name, key = op.table.name, op.key
        etag = cur[1] if cur else None
        if isinstance(op, Put) and op.if_absent:
            return AlreadyExists(self.name, name, key) if cur else None
        if isinstance(op, Check) and not op.exists:
            return AlreadyExists(self.name, name, key) if cur else None
        if isinstance(op, Check) or op.etag is not None:
            if cur is None:
                return NotFound(self.name, name, key)
            if op.etag is not None and etag != op.etag:
                return ConcurrencyConflict(self.name, name, key)
        return None

    def _log(
        self,
        conn: sqlite3.Connection,
        spec: TableSpec,
        kind: ChangeKind,
        key: Key,
        old: str | None,
        new: str | None,
        expired: bool = False,
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO portafn_changes (tbl, kind, pk, sk, old, new, time, expired) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (spec.name, kind, key.pk, self._sk(key), old, new, time.time(), int(expired)),
        )
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def _apply(self, conn: sqlite3.Connection, op: Write) -> str | None:
        spec, key = op.table, op.key
        cur = self._current(conn, spec, key)
        if isinstance(op, Put):
            text = json.dumps(op.doc, separators=(",", ":"), ensure_ascii=False)
            size = len(text.encode())
            if size > self.capabilities.max_item_bytes:
                raise TooLarge(self.name, spec.name, key, f"item is {size} bytes")
            seq = self._log(conn, spec, "modify" if cur else "insert", key, cur[0] if cur else None, text)
            etag = sequence_text(seq)
            conn.execute(
                "INSERT OR REPLACE INTO portafn_items (tbl, pk, sk, doc, etag, expires) VALUES (?, ?, ?, ?, ?, ?)",
                (spec.name, key.pk, self._sk(key), text, etag, expiry_of(spec, op.doc)),
            )
            return etag
        if cur is not None:
            self._log(conn, spec, "remove", key, cur[0], None)
            conn.execute(
                "DELETE FROM portafn_items WHERE tbl = ? AND pk = ? AND sk = ?",
                (spec.name, key.pk, self._sk(key)),
            )
        return None

    def _maybe_sweep(self, conn: sqlite3.Connection) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.sweep_interval:
            self._last_sweep = now
            self._sweep(conn, time.time())

    def _sweep(self, conn: sqlite3.Connection, cutoff: float) -> int:
        # The change log keeps the newest CHANGE_LOG_ROWS changes, as streams keep a window.
        conn.execute(
            "DELETE FROM portafn_changes WHERE seq <= (SELECT MAX(seq) FROM portafn_changes) - ?",
            (self.change_log_rows,),
        )
        rows = conn.execute(
            "SELECT tbl, pk, sk, doc FROM portafn_items WHERE expires IS NOT NULL AND expires <= ?", (cutoff,)
        ).fetchall()
        for tbl, pk, sk, doc in rows:
            spec = TableSpec(tbl, "", None)
            key = Key(pk, sk)
            self._log(conn, spec, "remove", key, doc, None, expired=True)
            conn.execute("DELETE FROM portafn_items WHERE tbl = ? AND pk = ? AND sk = ?", (tbl, pk, sk))
        return len(rows)

    def sweep_expired(self, now: float | None = None) -> int:
        """Delete every item whose TTL has passed; returns how many (each logs a ``remove``)."""
        with self._write() as conn:
            return self._sweep(conn, time.time() if now is None else now)

    # -- the port ----------------------------------------------------------------------------

    def ensure_table(self, table: TableSpec) -> None:
        spec = json.dumps(
            {"pk": table.partition_key, "sk": table.sort_key, "ttl": table.ttl_field}, sort_keys=True
        )
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO portafn_tables (name, spec) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET spec = excluded.spec",
                (table.name, spec),
            )

    def get(self, table: TableSpec, key: Key) -> Record | None:
        with self._conn() as conn:
            cur = self._current(conn, table, key)
        return Record(key, json.loads(cur[0]), cur[1]) if cur else None

    def write(self, op: Write) -> str | None:
        with self._write() as conn:
            self._maybe_sweep(conn)
            problem = self._problem(conn, op)
            if problem is not None:
                raise problem
            return self._apply(conn, op)

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
        where = ["tbl = ?", "pk = ?"]
        args: list[Any] = [table.name, pk]
        if condition is not None:
            clause, values = _condition_sql(condition)
            where.append(clause)
            args.extend(values)
        scope = query_scope(table.name, pk, condition, descending)
        if cursor is not None:
            after = decode_sort_position(cursor, scope=scope, store=self.name, table=table.name)
            where.append("sk < ?" if descending else "sk > ?")
            args.append(after)
        sql = (
            f"SELECT sk, doc, etag FROM portafn_items WHERE {' AND '.join(where)} "
            f"ORDER BY sk {'DESC' if descending else 'ASC'} LIMIT ?"
        )
        args.append(limit + 1)
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        records = [
            Record(Key(pk, sk if table.sort_key else None), json.loads(doc), etag) for sk, doc, etag in rows
        ]
        next_cursor = encode_cursor(rows[-1][0], scope=scope) if more else None
        return Page(records, next_cursor)

    def scan(self, table: TableSpec, *, limit: int, cursor: str | None) -> Page:
        """Every item in primary-key order (partition, then sort key); the cursor is the last key."""
        scope = scan_scope(table.name)
        after = scan_position(self.name, table.name, cursor, scope)
        sql = "SELECT pk, sk, doc, etag FROM portafn_items WHERE tbl = ?"
        args: list[Any] = [table.name]
        if after is not None:
            sql += " AND (pk > ? OR (pk = ? AND sk > ?))"
            args.extend([after[0], after[0], after[1]])
        sql += " ORDER BY pk, sk LIMIT ?"
        args.append(limit + 1)
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        records = [
            Record(Key(pk, sk if table.sort_key else None), json.loads(doc), etag)
            for pk, sk, doc, etag in rows
        ]
        next_cursor = encode_cursor([rows[-1][0], rows[-1][1]], scope=scope) if more else None
        return Page(records, next_cursor)

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        with self._conn() as conn:
            conn.execute("BEGIN")  # one snapshot for the whole batch
            try:
                found = []
                for key in keys:
                    cur = self._current(conn, table, key)
                    if cur:
                        found.append(Record(key, json.loads(cur[0]), cur[1]))
            finally:
                conn.execute("COMMIT")
        return found, []

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        if len(ops) > self.capabilities.batch_write_size:
            raise TooLarge(self.name, ops[0].table.name, None, f"{len(ops)} writes in one batch")
        with self._write() as conn:
            self._maybe_sweep(conn)
            for op in ops:
                self._apply(conn, op)
        return []

    def transact(self, ops: Sequence[TransactOp]) -> None:
        if len(ops) > self.capabilities.max_transaction_items:
            raise TooLarge(self.name, ops[0].table.name if ops else None, None, f"{len(ops)} operations")
        with self._write() as conn:
            reasons = [self._problem(conn, op) for op in ops]
            if any(reasons):
                first = next(r for r in reasons if r is not None)
                raise TransactionConflict(
                    self.name, first.table, first.key, f"{type(first).__name__}: {first.summary}", reasons
                )
            for op in ops:
                if not isinstance(op, Check):
                    self._apply(conn, op)

    def read_changes(
        self, table: TableSpec, cursor: str | None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        after = change_sequence(cursor, store=self.name, table=table.name)
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq, kind, pk, sk, old, new, time, expired FROM portafn_changes "
                "WHERE tbl = ? AND seq > ? ORDER BY seq LIMIT ?",
                (table.name, after, limit),
            ).fetchall()
        out = [
            ChangeRecord(
                table=table.name,
                kind=kind,
                key=Key(pk, sk if table.sort_key else None),
                old=json.loads(old) if old is not None else None,
                new=json.loads(new) if new is not None else None,
                sequence=sequence_text(seq),
                time=datetime.fromtimestamp(at, UTC),
                extra={"expired": True} if expired else {},
            )
            for seq, kind, pk, sk, old, new, at, expired in rows
        ]
        return out, (out[-1].sequence if out else cursor)

    def clear(self, table: TableSpec) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM portafn_items WHERE tbl = ?", (table.name,))
            conn.execute("DELETE FROM portafn_changes WHERE tbl = ?", (table.name,))


def _condition_sql(c: SortCondition) -> tuple[str, list[Any]]:
    if c.op == "eq":
        return "sk = ?", [c.value]
    if c.op == "between":
        return "sk >= ? AND sk <= ?", [c.value, c.high]
    if c.op == "begins_with":
        prefix = str(c.value)
        upper = _prefix_upper(prefix)
        # typeof: an int sort key never begins with a string.
        if upper is None:
            return "typeof(sk) = 'text' AND sk >= ?", [prefix]
        return "typeof(sk) = 'text' AND sk >= ? AND sk < ?", [prefix, upper]
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    return f"sk {ops[c.op]} ?", [c.value]


def _prefix_upper(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: there is none).

    Strings compare by code point (UTF-8 byte order), so bumping the last code point that can be
    bumped gives the bound; surrogates are skipped because they cannot be stored.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None
