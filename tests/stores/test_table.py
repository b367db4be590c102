"""The table layer: registration checks, keys, retries, batches, capabilities, TTL, transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from portafn import App, RegistrationError
from portafn.conformance import run
from portafn.store import (
    AlreadyExists,
    Capability,
    ConcurrencyConflict,
    InvalidKey,
    NotFound,
    StoreUnavailable,
    Throttled,
    TooLarge,
    TransactionConflict,
    Unsupported,
    transaction,
)
from portafn.store.capabilities import Capabilities
from portafn.store.errors import InvalidCursor
from portafn.store.keys import document_id
from portafn.store.memory import MemoryStore
from portafn.store.port import Key, Put, Record, Store, TableSpec, Write
from portafn.store.registry import use_store
from portafn.store.retry import RetryPolicy
from portafn.store.sqlite import SqliteStore
from portafn.store.table import Table

FAST = RetryPolicy(attempts=4, base=0.0005, cap=0.002)


class Order(BaseModel):
    customer_id: str
    order_id: str
    total_cents: int = 0
    status: str = "new"


class Session(BaseModel):
    sid: str
    expires_at: datetime | None = None


class Color(StrEnum):
    RED = "red"


class Tagged(BaseModel):
    color: Color
    n: int = 0


def orders_table(**kw: Any) -> Table[Order]:
    return Table(Order, partition_key="customer_id", sort_key="order_id", name="orders", **kw)


# -- registration ------------------------------------------------------------------------------


class BadKeys(BaseModel):
    ok: str
    flt: float
    flag: bool
    maybe: str | None = None
    when: datetime
    lit: Literal["a", "b"] = "a"
    mixed: Literal["a", 1] = "a"


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ("missing", "is not a field of BadKeys"),
        ("flt", "must be str or int"),
        ("flag", "must be str or int"),
        ("maybe", "must be str or int"),
        ("when", "must be str or int"),
        ("mixed", "must be str or int"),
    ],
)
def test_key_fields_are_checked_at_registration(field: str, problem: str) -> None:
    app = App("t")
    with pytest.raises(RegistrationError, match=problem) as info:
        app.table(BadKeys, partition_key="ok", sort_key=field)
    assert "bad_keys" in str(info.value)


def test_literal_and_enum_keys_are_accepted() -> None:
    app = App("t")
    app.table(BadKeys, partition_key="lit")
    table = app.table(Tagged, partition_key="color")
    with use_store(MemoryStore()):
        table.put(Tagged(color=Color.RED, n=1))
        assert table.get(Color.RED) == Tagged(color=Color.RED, n=1)
        assert table.get("red") == Tagged(color=Color.RED, n=1)


def test_reserved_field_names_are_rejected() -> None:
    class Aliased(BaseModel):
        id: str
        etag: str = Field(default="", alias="_etag")

    with pytest.raises(RegistrationError, match="reserved for stores"):
        App("t").table(Aliased, partition_key="id")


def test_ttl_field_is_checked() -> None:
    class Wrong(BaseModel):
        id: str
        expires: str = ""

    with pytest.raises(RegistrationError, match="ttl field"):
        App("t").table(Wrong, partition_key="id", ttl="expires")
    with pytest.raises(RegistrationError, match="is not a field"):
        App("t").table(Wrong, partition_key="id", ttl="nope")


def test_table_names_are_checked() -> None:
    with pytest.raises(RegistrationError, match="table name"):
        App("t").table(Order, partition_key="customer_id", name="has.dot")


def test_default_name_and_spec() -> None:
    table = App("t").table(Order, partition_key="customer_id", sort_key="order_id")
    assert table.name == "orders"
    assert table.spec == TableSpec("orders", "customer_id", "order_id", None)


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pk", "problem"),
    [
        ("", "must not be empty"),
        ("a/b", "must not contain '/'"),
        ("a\x00b", "control characters"),
        ("x" * 1025, "at most 1024 UTF-8 bytes"),
        ("é" * 513, "at most 1024 UTF-8 bytes"),
        ("\ud800", "lone surrogates"),
        (True, "a bool is not a key"),
        (1, "expects a str"),
        (1.5, "a key is a str or an int"),
    ],
)
def test_invalid_keys_name_table_and_field(pk: Any, problem: str) -> None:
    with pytest.raises(InvalidKey, match=problem) as info:
        orders_table().key(pk, "o1")
    assert info.value.table == "orders"
    assert info.value.field == "customer_id"


def test_sort_key_presence_is_checked() -> None:
    with pytest.raises(InvalidKey, match="has a sort key"):
        orders_table().key("c1")
    plain = Table(Session, partition_key="sid", name="sessions")
    with pytest.raises(InvalidKey, match="no sort key"):
        plain.key("s1", "x")


def test_document_id_is_safe_and_reversible_in_shape() -> None:
    values: list[str | int] = ["1", 1]
    ids = {document_id(Key(v, w)) for v in ["a", ".", "..", "__x__", "a~b"] for w in values}
    assert len(ids) == 10  # str "1" and int 1 differ; "~" inside a value cannot fake a join
    for doc_id in ids:
        assert not set("/\\?#") & set(doc_id)
        assert doc_id not in (".", "..")
        assert not (doc_id.startswith("__") and doc_id.endswith("__"))


# -- operations through the store in use ---------------------------------------------------------


def test_use_store_switches_the_store_and_tables_are_created_once_per_store() -> None:
    created: list[str] = []

    class Counting(MemoryStore):
        def ensure_table(self, table: TableSpec) -> None:
            created.append(table.name)
            super().ensure_table(table)

    table = orders_table()
    a, b = Counting(), Counting()
    with use_store(a):
        table.insert(Order(customer_id="c", order_id="o", total_cents=1))
        table.get("c", "o")
    with use_store(b):
        assert table.get("c", "o") is None
    with use_store(a):
        assert table.get("c", "o") is not None
    assert created == ["orders", "orders"]


def test_crud_and_etags(store: Store) -> None:
    table = orders_table()
    order = Order(customer_id="c1", order_id="o1", total_cents=100)
    etag = table.insert(order)
    with pytest.raises(AlreadyExists):
        table.insert(order)
    versioned = table.get_versioned("c1", "o1")
    assert versioned is not None
    assert versioned.item == order
    assert versioned.etag == etag
    new_etag = table.replace(order.model_copy(update={"status": "paid"}), etag=etag)
    with pytest.raises(ConcurrencyConflict):
        table.replace(order, etag=etag)
    with pytest.raises(ConcurrencyConflict):
        table.delete("c1", "o1", etag=etag)
    table.delete("c1", "o1", etag=new_etag)
    with pytest.raises(NotFound):
        table.replace(order, etag=new_etag)
    with pytest.raises(TypeError, match="stores Order"):
        table.put(Session(sid="x"))  # type: ignore[arg-type]


def test_update_applies_and_guards_the_key(store: Store) -> None:
    table = orders_table()
    with pytest.raises(NotFound):
        table.update("c", "o", lambda o: o)
    table.insert(Order(customer_id="c", order_id="o"))
    out = table.update("c", "o", lambda o: o.model_copy(update={"total_cents": o.total_cents + 5}))
    assert out.total_cents == 5
    with pytest.raises(ValueError, match="must not change the item's key"):
        table.update("c", "o", lambda o: o.model_copy(update={"order_id": "other"}))


def test_update_gives_up_after_its_attempts() -> None:
    table = orders_table()
    store = MemoryStore()
    with use_store(store):
        table.insert(Order(customer_id="c", order_id="o"))

        def meddle(o: Order) -> Order:
            table.put(o.model_copy(update={"status": "meddled"}))  # another writer, every time
            return o.model_copy(update={"total_cents": 1})

        with pytest.raises(ConcurrencyConflict):
            table.update("c", "o", meddle, attempts=3)


def test_query_arguments_are_checked(store: Store) -> None:
    table = orders_table()
    with pytest.raises(ValueError, match="at most one sort-key condition"):
        table.query("c", eq="a", gt="b")
    with pytest.raises(ValueError, match="limit must be between"):
        table.query("c", limit=0)
    with pytest.raises(ValueError, match="low 'b' is above high 'a'"):
        table.query("c", between=("b", "a"))
    with pytest.raises(InvalidKey, match="expects a str"):
        table.query("c", gt=5)
    with pytest.raises(InvalidCursor, match="not a cursor this store made"):
        table.query("c", cursor="garbage!")
    with pytest.raises(ValueError, match="no sort key"):
        Table(Session, partition_key="sid", name="sessions").query("s", eq="x")


def test_query_page_is_iterable(store: Store) -> None:
    table = orders_table()
    table.batch_put(Order(customer_id="c", order_id=f"o{i}") for i in range(3))
    page = table.query("c", limit=2)
    assert [o.order_id for o in page] == ["o0", "o1"]
    assert len(page) == 2
    assert page.cursor is not None


def test_item_size_is_checked_before_the_store() -> None:
    table = orders_table()
    with use_store(MemoryStore()), pytest.raises(TooLarge, match="limit is 409600"):
        table.put(Order(customer_id="c", order_id="o", status="x" * 500_000))


# -- retries -------------------------------------------------------------------------------------


class Flaky(MemoryStore):
    """A memory store whose reads fail ``failures`` times first with ``error``."""

    def __init__(self, error: Exception, failures: int) -> None:
        super().__init__()
        self.error = error
        self.failures = failures
        self.calls = 0

    def get(self, table: TableSpec, key: Key) -> Record | None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return super().get(table, key)


def test_transient_errors_are_retried_then_raised() -> None:
    table = orders_table(retry=FAST)
    flaky = Flaky(Throttled("memory", "orders", retry_after=0.001), failures=2)
    with use_store(flaky):
        assert table.get("c", "o") is None
    assert flaky.calls == 3
    down = Flaky(StoreUnavailable("memory", "orders"), failures=100)
    with use_store(down), pytest.raises(StoreUnavailable):
        table.get("c", "o")
    assert down.calls == FAST.attempts


def test_permanent_errors_are_not_retried() -> None:
    table = orders_table(retry=FAST)
    flaky = Flaky(NotFound("memory", "orders"), failures=100)
    with use_store(flaky), pytest.raises(NotFound):
        table.get("c", "o")
    assert flaky.calls == 1


def test_retry_honours_retry_after_within_bounds() -> None:
    policy = RetryPolicy(attempts=3, base=0.01, cap=0.5)
    assert policy.delay(1, Throttled("s", retry_after=0.3)) == 0.3
    assert policy.delay(1, Throttled("s", retry_after=99)) == 2.0
    delays = [policy.delay(5) for _ in range(200)]
    assert all(0 <= d <= 0.16 for d in delays)
    assert len(set(delays)) > 100  # jittered


class Stingy(MemoryStore):
    """Processes only half of each batch call (as DynamoDB may under load), recording sizes."""

    def __init__(self, always: bool = False) -> None:
        super().__init__()
        self.always = always
        self.sizes: list[int] = []

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        self.sizes.append(len(ops))
        if self.always:
            return list(ops)
        done, left = ops[: (len(ops) + 1) // 2], ops[(len(ops) + 1) // 2 :]
        super().batch_write(done)
        return list(left)

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        self.sizes.append(len(keys))
        half = (len(keys) + 1) // 2
        found, _ = super().batch_get(table, keys[:half])
        return found, list(keys[half:])


def test_batches_are_chunked_and_unprocessed_items_retried() -> None:
    table = orders_table(retry=RetryPolicy(attempts=10, base=0.0005, cap=0.002))
    stingy = Stingy()
    with use_store(stingy):
        table.batch_put(Order(customer_id="c", order_id=f"o{i:03d}", total_cents=i) for i in range(60))
        assert max(stingy.sizes) == 25
        assert len(table.query("c", limit=100).items) == 60
        stingy.sizes.clear()
        got = table.batch_get([("c", f"o{i:03d}") for i in range(150)])
        assert [o.total_cents for o in got] == list(range(60))
        assert max(stingy.sizes) == 100


def test_batches_give_up_with_throttled_when_nothing_progresses() -> None:
    table = orders_table(retry=FAST)
    with use_store(Stingy(always=True)), pytest.raises(Throttled, match="still unprocessed"):
        table.batch_put([Order(customer_id="c", order_id="o")])


# -- capabilities --------------------------------------------------------------------------------


class Minimal(MemoryStore):
    """A store that claims nothing beyond the core."""

    scheme = "minimal"
    capabilities = Capabilities(supported=frozenset())


def test_unclaimed_capabilities_raise_unsupported_naming_store_and_capability() -> None:
    table = orders_table()
    with use_store(Minimal()):
        etag = table.insert(Order(customer_id="c", order_id="o"))
        with pytest.raises(Unsupported, match="minimal does not support conditional writes"):
            table.replace(Order(customer_id="c", order_id="o"), etag=etag)
        with pytest.raises(Unsupported, match="transactions"):
            transaction().__enter__()
        with pytest.raises(Unsupported, match="query: begins with"):
            table.query("c", begins_with="o")
        with pytest.raises(Unsupported, match="change source"):
            table.changes()
        with pytest.raises(Unsupported, match="ttl"):
            Table(Session, partition_key="sid", name="s", ttl="expires_at").get("x")


def test_conformance_checks_both_directions_on_a_minimal_store() -> None:
    report = run(Minimal())
    assert report.ok, report.table()
    unclaimed = [r for r in report.results if r.test == "unclaimed_raises_unsupported"]
    assert len(unclaimed) == len(Capability)
    assert all(r.result == "passed" for r in unclaimed)


def test_conformance_shows_local_gaps_without_running_them() -> None:
    class Gappy(MemoryStore):
        capabilities = replace(
            MemoryStore.capabilities, local_gaps={Capability.TTL: "emulator never expires"}
        )

    report = run(Gappy())
    gaps = [r for r in report.results if r.result == "local gap"]
    assert [(g.capability, g.detail) for g in gaps] == [("ttl", "emulator never expires")]
    assert report.ok
    assert "local gap" in report.table()
    assert report.as_dict()["summary"]["local gap"] == 1


class LostUpdates(MemoryStore):
    """A broken store: it ignores etags, as a naive last-writer-wins store would."""

    scheme = "broken"

    def write(self, op: Write) -> str | None:
        if isinstance(op, Put) and op.etag is not None:
            op = Put(op.table, op.key, op.doc)
        return super().write(op)


def test_conformance_catches_a_store_that_loses_updates() -> None:
    report = run(LostUpdates(), only=lambda row: row.capability == "conditional writes")
    failed = {r.test for r in report.results if r.result == "failed"}
    assert "etag_replace_conflict" in failed
    assert not report.ok
    assert "FAILED" in report.table()


# -- TTL -----------------------------------------------------------------------------------------


def test_ttl_accepts_epoch_seconds_and_datetimes(store: Store) -> None:
    class Token(BaseModel):
        id: str
        exp: int | None = None

    tokens = Table(Token, partition_key="id", name="tokens", ttl="exp")
    sessions = Table(Session, partition_key="sid", name="sessions", ttl="expires_at")
    now = datetime.now(UTC)
    tokens.put(Token(id="old", exp=int(now.timestamp()) - 5))
    tokens.put(Token(id="new", exp=int(now.timestamp()) + 60))
    sessions.put(Session(sid="naive", expires_at=(now - timedelta(minutes=1)).replace(tzinfo=None)))
    assert tokens.get("old") is None
    assert tokens.get("new") is not None
    assert sessions.get("naive") is None  # a naive datetime is taken as UTC


def test_stores_sweep_expired_items_and_log_removals(store: Store) -> None:
    sessions = Table(Session, partition_key="sid", name="sessions", ttl="expires_at")
    now = datetime.now(UTC)
    sessions.put(Session(sid="gone", expires_at=now - timedelta(seconds=1)))
    sessions.put(Session(sid="kept", expires_at=now + timedelta(hours=1)))
    assert isinstance(store, MemoryStore | SqliteStore)
    assert store.sweep_expired() == 1
    assert store.get(sessions.spec, Key("gone")) is None
    assert store.get(sessions.spec, Key("kept")) is not None
    changes, _ = sessions.changes()
    last = changes[-1]
    assert (last.kind, last.key) == ("remove", {"sid": "gone"})
    assert last.raw.extra == {"expired": True}


# -- transactions --------------------------------------------------------------------------------


def test_transaction_rules(store: Store) -> None:
    table = orders_table()

    def twice() -> None:
        with transaction() as tx:
            tx.put(table, Order(customer_id="c", order_id="o"))
            tx.delete(table, "c", "o")

    def abandoned() -> None:
        with transaction() as tx:
            tx.put(table, Order(customer_id="c", order_id="o"))
            raise RuntimeError("abandon")

    with pytest.raises(ValueError, match="already has operation #1"):
        twice()
    assert table.get("c", "o") is None
    with pytest.raises(RuntimeError):
        abandoned()
    assert table.get("c", "o") is None  # an exception in the block commits nothing
    table.insert(Order(customer_id="c", order_id="taken"))
    with pytest.raises(TransactionConflict) as info, transaction() as tx:
        tx.insert(table, Order(customer_id="c", order_id="taken"))
    assert isinstance(info.value.reasons[0], AlreadyExists)


# -- SQLite specifics ----------------------------------------------------------------------------


def test_sqlite_persists_uses_wal_and_serves_many_threads(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'db.sqlite'}"
    table = orders_table()
    first = SqliteStore(url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with use_store(first):
                table.batch_put(Order(customer_id=f"c{n}", order_id=f"o{i}") for i in range(50))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    first.close()
    again = SqliteStore(url)
    with use_store(again):
        assert sum(len(table.query(f"c{n}").items) for n in range(8)) == 400
    again.close()
    mode = sqlite3.connect(tmp_path / "nested" / "db.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_sqlite_memory_url_uses_a_temporary_file_removed_on_close() -> None:
    store = SqliteStore("sqlite://")
    path = store.path
    with use_store(store):
        orders_table().put(Order(customer_id="c", order_id="o"))
    store.close()
    import os

    assert not os.path.exists(path)


def test_sqlite_rejects_a_host_in_the_url() -> None:
    with pytest.raises(ValueError, match=r"sqlite:///relative\.db"):
        SqliteStore("sqlite://host/x.db")
