"""The conformance cases. Each is a function of a ``Harness`` that raises ``AssertionError`` (or any
error) when the store misbehaves. ``CASES`` lists them with the capability they prove (None: core
behaviour every store must have); ``UNCLAIMED`` has, per capability, an operation that must raise
``Unsupported`` on a store that does not declare it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from portafn.conformance.harness import Doc, EpochExpiring, Expiring, Harness, Item, Numbered
from portafn.store.capabilities import Capability
from portafn.store.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidCursor,
    InvalidValue,
    NotFound,
    StoreError,
    TooLarge,
    TransactionConflict,
)
from portafn.store.keys import MAX_INT_KEY, InvalidKey
from portafn.store.registry import use_store
from portafn.store.table import Table
from portafn.store.transaction import transaction

CaseFn = Callable[[Harness], str | None]

PAGING_ITEMS = 2500
THREADS = 8
INCREMENTS = 100
CHANGE_DEADLINE = 30.0  # seconds to wait for a change source that delivers asynchronously


@dataclass(frozen=True, slots=True)
class Case:
    """One conformance test: ``name`` (an identifier), the capability it proves, and its function."""

    name: str
    capability: Capability | None
    fn: CaseFn
    doc: str


CASES: list[Case] = []


def case(capability: Capability | None) -> Callable[[CaseFn], CaseFn]:
    """Register a case; its docstring's first line is its description."""

    def register(fn: CaseFn) -> CaseFn:
        CASES.append(Case(fn.__name__, capability, fn, (fn.__doc__ or fn.__name__).strip().splitlines()[0]))
        return fn

    return register


def expect(error: type[BaseException], call: Callable[[], Any], what: str) -> BaseException:
    """Run ``call`` and require that it raises ``error``; returns the error."""
    try:
        call()
    except error as exc:
        return exc
    except Exception as exc:
        raise AssertionError(f"{what}: expected {error.__name__}, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{what}: expected {error.__name__}, nothing was raised")


def equal(got: Any, want: Any, what: str) -> None:
    """Require ``got == want`` with a message that shows both (shortened)."""
    if got != want:
        raise AssertionError(f"{what}: expected {_short(want)}, got {_short(got)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."


# -- core -------------------------------------------------------------------------------------


@case(None)
def get_missing_is_none(h: Harness) -> str | None:
    """get of a missing key returns None"""
    items = h.table("items")
    equal(items.get(h.pk(), "nothing"), None, "get missing")
    equal(items.get_versioned(h.pk(), "nothing"), None, "get_versioned missing")
    return None


@case(None)
def document_round_trip(h: Harness) -> str | None:
    """a document with nested, unicode, numeric, bool and null values comes back equal"""
    items = h.table("items")
    data = {
        "nested": {"list": [1, "two", 3.5, True, None, {"deep": ["x"]}], "empty": {}, "none": None},
        "unicode": "ünïcødé 日本語 😀 \u200b",
        "big": MAX_INT_KEY,
        "negative": -42,
        "float": 0.125,
        "flag": False,
        "empty_list": [],
        "empty_text": "",
    }
    item = Item(pk=h.pk(), sk="doc", n=7, text="x" * 1000, data=data)
    etag = items.insert(item)
    assert isinstance(etag, str), "insert returns a str etag"
    assert etag, "insert returns a non-empty etag"
    got = items.get_versioned(item.pk, item.sk)
    assert got is not None, "inserted item is readable"
    equal(got.item, item, "round trip")
    equal(got.etag, etag, "get_versioned etag is the insert's etag")
    return None


@case(None)
def insert_conflict(h: Harness) -> str | None:
    """insert of a taken key raises AlreadyExists and leaves the item unchanged"""
    items = h.table("items")
    first = Item(pk=h.pk(), sk="k", n=1)
    items.insert(first)
    expect(AlreadyExists, lambda: items.insert(first.model_copy(update={"n": 2})), "second insert")
    equal(items.get(first.pk, first.sk), first, "item after failed insert")
    return None


@case(None)
def concurrent_inserts_one_winner(h: Harness) -> str | None:
    """8 threads inserting one key: exactly one succeeds, the rest get AlreadyExists"""
    items = h.table("items")
    pk = h.pk()
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(i: int) -> None:
        with use_store(h.store):
            barrier.wait()
            try:
                items.insert(Item(pk=pk, sk="race", n=i))
                result = "won"
            except AlreadyExists:
                result = "lost"
            except Exception as exc:
                result = f"error {type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(result)

    _run_threads(worker)
    equal(sorted(outcomes), ["lost"] * (THREADS - 1) + ["won"], "insert race outcomes")
    return None


@case(None)
def put_upserts(h: Harness) -> str | None:
    """put creates, then replaces, with a new etag each time"""
    items = h.table("items")
    item = Item(pk=h.pk(), sk="k", n=1)
    e1 = items.put(item)
    e2 = items.put(item.model_copy(update={"n": 2}))
    assert e1 != e2, "each write gives a new etag"
    got = items.get_versioned(item.pk, item.sk)
    assert got is not None
    equal((got.item.n, got.etag), (2, e2), "after second put")
    return None


@case(None)
def delete_is_idempotent(h: Harness) -> str | None:
    """delete removes the item; deleting a missing item without an etag succeeds"""
    items = h.table("items")
    item = Item(pk=h.pk(), sk="k")
    items.put(item)
    items.delete(item.pk, item.sk)
    equal(items.get(item.pk, item.sk), None, "after delete")
    items.delete(item.pk, item.sk)
    return None


@case(None)
def partition_key_only_table(h: Harness) -> str | None:
    """a table without a sort key, whose key field is named id and with a plain field named ttl"""
    docs = h.table("docs")
    doc = Doc(id=h.pk("id"), n=3, ttl=5)
    docs.insert(doc)
    equal(docs.get(doc.id), doc, "get by partition key")
    expect(AlreadyExists, lambda: docs.insert(doc), "insert twice")
    equal(docs.query(doc.id).items, [doc], "query of its partition")
    docs.delete(doc.id)
    equal(docs.get(doc.id), None, "after delete")
    return None


KEY_EDGE_CASES = [
    "plain",
    "ünïcødé",
    "日本語",
    "emoji-😀",
    "a b",
    "back\\slash",
    "q?uery",
    "hash#tag",
    "per%25cent",
    "per%cent",
    ".",
    "..",
    "__reserved__",
    "plus+and&eq=",
    "quote'\"",
    "colon:semi;",
    "tilde~",
    "\uff46\uff55\uff4c\uff4c-width",
    "zero\u200bwidth",
    "\u202ertl",
    "x" * 1024,
    "é" * 512,
]


@case(None)
def key_encoding_edge_cases(h: Harness) -> str | None:
    """keys with unicode and characters stores reserve round-trip as sort and partition keys"""
    items = h.table("items")
    pk = h.pk()
    h.fill(items, [Item(pk=pk, sk=v, text=v) for v in KEY_EDGE_CASES])
    for v in KEY_EDGE_CASES:
        got = items.get(pk, v)
        assert got is not None, f"sort key {v[:40]!r} found"
        equal(got.text, v, "document under that sort key")
    page = items.query(pk, limit=len(KEY_EDGE_CASES))
    equal([i.sk for i in page.items], sorted(KEY_EDGE_CASES), "sort keys in code-point (UTF-8 byte) order")
    suffix = h.pk("")
    for v in KEY_EDGE_CASES[:-2]:  # long values are covered as sort keys; keep pk + suffix in bounds
        key = v + suffix
        items.put(Item(pk=key, sk="s", text=v))
        got = items.get(key, "s")
        assert got is not None, f"partition key {key[:40]!r} found"
        equal(got.text, v, "document under that partition key")
        equal([i.text for i in items.query(key).items], [v], f"query of partition {key[:40]!r}")
        items.delete(key, "s")
    return None


@case(None)
def int_keys_sort_numerically(h: Harness) -> str | None:
    """int sort keys, negative to 2**53-1, sort as numbers"""
    numbers = h.table("numbers")
    pk = h.pk()
    values = [10, -5, 0, 2, 1, MAX_INT_KEY, -MAX_INT_KEY, 100]
    h.fill(numbers, [Numbered(pk=pk, sk=v) for v in values])
    equal([i.sk for i in numbers.query(pk).items], sorted(values), "numeric order")
    equal(numbers.get(pk, MAX_INT_KEY), Numbered(pk=pk, sk=MAX_INT_KEY), "largest int key")
    return None


@case(None)
def invalid_keys_rejected(h: Harness) -> str | None:
    """keys no store can hold raise InvalidKey naming the table and field, before the store is called"""
    items = h.table("items")
    bad: list[Any] = ["", "a/b", "nul\x00", "tab\t", "x" * 1025, True, 1.5, None, b"bytes"]
    for value in bad:
        exc = expect(InvalidKey, partial(items.get, value, "s"), f"pk {value!r:.30}")
        assert items.name in str(exc), f"error names the table: {exc}"
        assert "pk" in str(exc), f"error names the field: {exc}"
    numbers = h.table("numbers")
    wrong: list[Any] = [2**53, -(2**53), "1", False]
    for value in wrong:
        expect(InvalidKey, partial(numbers.get, "p", value), f"int sk {value!r}")
    expect(InvalidKey, lambda: items.insert(Item(pk="ok", sk="a/b")), "insert with '/' in key")
    return None


@case(None)
def item_size_limit(h: Harness) -> str | None:
    """an item over max_item_bytes raises TooLarge; one at half of it is stored"""
    items = h.table("items")
    limit = h.capabilities.max_item_bytes
    pk = h.pk()
    half = Item(pk=pk, sk="half", text="h" * (limit // 2))
    items.put(half)
    got = items.get(pk, "half")
    assert got is not None, "half-limit item stored"
    equal(len(got.text), limit // 2, "half-limit item length")
    expect(TooLarge, lambda: items.put(Item(pk=pk, sk="over", text="o" * (limit + 1))), "over-limit put")
    equal(items.get(pk, "over"), None, "over-limit item not stored")
    return f"limit {limit} bytes"


def _big_partition(h: Harness) -> tuple[str, list[str]]:
    """A partition of PAGING_ITEMS items, written once per run (batch writes where possible)."""
    cached = h.cache.get("big")
    if cached is None:
        items = h.table("items")
        pk = h.pk("big")
        keys = [f"k{i:05d}" for i in range(PAGING_ITEMS)]
        h.fill(items, [Item(pk=pk, sk=k, n=i) for i, k in enumerate(keys)])
        cached = h.cache["big"] = (pk, keys)
    return cached


def _page_all(table: Table[Any], pk: str, limit: int, **kw: Any) -> tuple[list[Any], int]:
    out: list[Any] = []
    cursor = None
    pages = 0
    while True:
        page = table.query(pk, limit=limit, cursor=cursor, **kw)
        pages += 1
        assert len(page.items) <= limit, f"page of {len(page.items)} over limit {limit}"
        out.extend(i.sk for i in page.items)
        cursor = page.cursor
        if cursor is None:
            return out, pages
        assert isinstance(cursor, str), "cursor is an opaque str"
        assert pages <= PAGING_ITEMS, "paging does not end"


@case(None)
def query_paging_thousands(h: Harness) -> str | None:
    """paging 2,500 items 100 at a time returns each exactly once, in order"""
    pk, keys = _big_partition(h)
    got, pages = _page_all(h.table("items"), pk, 100)
    equal(len(got), len(keys), "item count")
    equal(got, keys, "ascending pages")
    return f"{pages} pages"


@case(None)
def query_cursor_resumes_exactly(h: Harness) -> str | None:
    """a cursor resumes right after the last item, even after writes before and after it"""
    items = h.table("items")
    pk = h.pk()
    h.fill(items, [Item(pk=pk, sk=f"k{i:02d}") for i in range(0, 20, 2)])
    first = items.query(pk, limit=4)
    equal([i.sk for i in first.items], ["k00", "k02", "k04", "k06"], "first page")
    assert first.cursor is not None, "a cursor while items remain"
    items.put(Item(pk=pk, sk="k03"))  # before the cursor: not seen
    items.put(Item(pk=pk, sk="k07"))  # after the cursor: seen
    items.delete(pk, "k08")
    rest = items.query(pk, limit=100, cursor=first.cursor)
    equal([i.sk for i in rest.items], ["k07", "k10", "k12", "k14", "k16", "k18"], "resumed page")
    equal(rest.cursor, None, "no cursor at the end")
    exact = items.query(pk, limit=len(items.query(pk, limit=100).items))
    equal(exact.cursor, None, "no cursor when the page ends exactly at the last item")
    return None


@case(None)
def cursor_bound_to_its_query(h: Harness) -> str | None:
    """a cursor from another table, partition or query, garbage, empty or over-long raises InvalidCursor"""
    items, other = h.table("items"), h.table("other")
    pk, pk2 = h.pk(), h.pk()
    for table, p in ((items, pk), (items, pk2), (other, pk)):
        h.fill(table, [Item(pk=p, sk=f"k{i}") for i in range(4)])
    cursor = items.query(pk, limit=2).cursor
    assert cursor is not None, "a cursor while items remain"
    equal([i.sk for i in items.query(pk, limit=10, cursor=cursor).items], ["k2", "k3"], "own query")
    hostile: list[tuple[str, Callable[[], Any]]] = [
        ("another table", lambda: other.query(pk, limit=2, cursor=cursor)),
        ("another partition", lambda: items.query(pk2, limit=2, cursor=cursor)),
        ("another order", lambda: items.query(pk, limit=2, cursor=cursor, descending=True)),
        ("another condition", lambda: items.query(pk, limit=2, cursor=cursor, begins_with="k")),
        ("an empty cursor", lambda: items.query(pk, limit=2, cursor="")),
        ("garbage", lambda: items.query(pk, limit=2, cursor="%%not-base64!!")),
        ("json garbage", lambda: items.query(pk, limit=2, cursor="eyJwIjpbXX0")),
        ("an over-long cursor", lambda: items.query(pk, limit=2, cursor=cursor + "A" * 100_000)),
    ]
    for what, call in hostile:
        if what == "another order" and not h.claims(Capability.QUERY_DESCENDING):
            continue
        if what == "another condition" and not h.claims(Capability.QUERY_BEGINS_WITH):
            continue
        expect(InvalidCursor, call, f"a cursor from {what}" if what.startswith("another") else what)
    return None


# Core, not TTL: refusing a bad TTL value needs no expiry, so it runs where expiry is a local gap.
@case(None)
def non_finite_ttl_is_invalid(h: Harness) -> str | None:
    """a NaN, infinite or absurd TTL is InvalidValue at the table, and nothing is written"""
    if not h.claims(Capability.TTL):
        return "the store declares no TTL"
    table = h.table("numbered_ttl")
    pk = h.pk()
    for i, value in enumerate([float("nan"), float("inf"), float("-inf"), 1e20, -1e20]):
        item = EpochExpiring(pk=pk, sk=f"k{i}", expires_at=value)
        for what, call in (
            ("insert", partial(table.insert, item)),
            ("put", partial(table.put, item)),
            ("batch_put", partial(table.batch_put, [item])),
        ):
            expect(InvalidValue, call, f"{what} with ttl {value!r}")
    equal(table.query(pk).items, [], "nothing written")
    return None


def _nested(depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        out = {"d": out}
    return out


HOSTILE_KEYS: list[Any] = [
    "..",
    ".",
    "__x__",
    "__name__",
    "a/b",
    "a#b?c",
    "back\\slash",
    "%2F",
    "~h",
    "\x00",
    "\ud800",
    "e\u0301",
    "\U0001f600" * 8,
    "k" * 1024,
    "k" * 1025,
    "",
    " ",
    0,
    -1,
    2**53,
    2**63,
    True,
    None,
    1.5,
]
HOSTILE_DATA: list[dict[str, Any]] = [
    {"": 1},
    {"__name__": 1, "__x__": 2},
    {"a.b": 1, "`c`": 2, "$d": 3, "_etag": "forged", "_pk": "forged", "id": "forged", "ttl": -1},
    {"big": 2**64, "neg": -(2**64), "tiny": 5e-324, "huge": 1.7e308},
    {"nan": float("nan"), "inf": float("inf")},
    {"nul": "a\x00b", "surrogate": "\udfff"},
    {"deep": _nested(40)},
    {"wide": list(range(5000)), "empty": [], "empty_map": {}},
    {"nested_arrays": [[1, 2], [[3]]]},
]


def _only_portafn_errors(h: Harness, calls: list[tuple[str, Callable[[], Any]]]) -> list[str]:
    """Run each call; the escapes: an exception that is not a store error or a key error."""
    escaped: list[str] = []
    for what, call in calls:
        try:
            call()
        except (StoreError, InvalidKey):
            pass
        except Exception as exc:
            escaped.append(f"{what}: {type(exc).__module__}.{type(exc).__name__}: {str(exc)[:120]}")
    return escaped


@case(None)
def no_sdk_exception_escapes(h: Harness) -> str | None:
    """hostile keys, documents, etags and cursors through every operation raise only portafn errors"""
    items = h.table("items")
    pk = h.pk()
    calls: list[tuple[str, Callable[[], Any]]] = []
    for key in HOSTILE_KEYS:
        calls += [
            (f"get {key!r:.30}", partial(items.get, pk, key)),
            (f"get pk {key!r:.30}", partial(items.get, key, "k")),
            (f"delete {key!r:.30}", partial(items.delete, pk, key)),
            (f"query pk {key!r:.30}", partial(items.query, key)),
            (f"query eq {key!r:.30}", partial(items.query, pk, eq=key)),
            (f"batch_get {key!r:.30}", partial(items.batch_get, [(pk, key), (pk, key)])),
        ]
        if isinstance(key, str):
            calls.append((f"put sk {key!r:.30}", partial(items.put, Item(pk=pk, sk=key))))
    for n, data in enumerate(HOSTILE_DATA):
        item = Item(pk=pk, sk=f"d{n}", data=data)
        calls += [
            (f"put data {n}", partial(items.put, item)),
            (f"insert data {n}", partial(items.insert, item)),
            (f"batch_put data {n}", partial(items.batch_put, [item])),
        ]
        if h.claims(Capability.TRANSACTIONS):
            calls.append((f"transaction data {n}", partial(_transact_put, items, item)))
    target = Item(pk=pk, sk="target")
    items.put(target)
    for what, forged in (
        ("empty", ""),
        ("long", "e" * 100_000),
        ("control", "\r\n\x00"),
        ("unicode", "\u00e9\ud800"),
    ):
        if h.claims(Capability.CONDITIONAL_WRITES):
            calls += [
                (f"replace etag {what}", partial(items.replace, target, etag=forged)),
                (f"delete etag {what}", partial(items.delete, pk, "target", etag=forged)),
            ]
        calls.append((f"query cursor {what}", partial(items.query, pk, cursor=forged)))
    if h.claims(Capability.CHANGE_SOURCE):
        calls.append(("changes cursor forged", partial(h.table("changes").changes, "forged!!", 1)))
    escaped = _only_portafn_errors(h, calls)
    assert not escaped, f"{len(escaped)} non-portafn errors escaped: {escaped[:5]}"
    return f"{len(calls)} hostile calls"


def _transact_put(table: Table[Any], item: Any) -> None:
    with transaction() as tx:
        tx.put(table, item)


# -- conditional writes ------------------------------------------------------------------------


@case(Capability.CONDITIONAL_WRITES)
def etag_replace_conflict(h: Harness) -> str | None:
    """replace with the current etag succeeds; with a stale one raises ConcurrencyConflict"""
    items = h.table("items")
    item = Item(pk=h.pk(), sk="k", n=1)
    e1 = items.insert(item)
    e2 = items.replace(item.model_copy(update={"n": 2}), etag=e1)
    assert e2 != e1, "replace gives a new etag"
    expect(
        ConcurrencyConflict, lambda: items.replace(item.model_copy(update={"n": 3}), etag=e1), "stale etag"
    )
    got = items.get_versioned(item.pk, item.sk)
    assert got is not None
    equal((got.item.n, got.etag), (2, e2), "item after the stale replace")
    return None


@case(Capability.CONDITIONAL_WRITES)
def etag_delete_conflict(h: Harness) -> str | None:
    """delete with a stale etag raises ConcurrencyConflict; with the current one it deletes"""
    items = h.table("items")
    item = Item(pk=h.pk(), sk="k")
    e1 = items.insert(item)
    e2 = items.put(item.model_copy(update={"n": 5}))
    expect(ConcurrencyConflict, lambda: items.delete(item.pk, item.sk, etag=e1), "stale delete")
    items.delete(item.pk, item.sk, etag=e2)
    equal(items.get(item.pk, item.sk), None, "after conditional delete")
    return None


@case(Capability.CONDITIONAL_WRITES)
def conditional_write_on_missing_item(h: Harness) -> str | None:
    """replace or delete with an etag of an item that is gone raises NotFound"""
    items = h.table("items")
    item = Item(pk=h.pk(), sk="k")
    etag = items.insert(item)
    items.delete(item.pk, item.sk)
    expect(NotFound, lambda: items.replace(item, etag=etag), "replace of a deleted item")
    expect(NotFound, lambda: items.delete(item.pk, item.sk, etag=etag), "delete of a deleted item")
    items.insert(item)  # re-created: the old etag must not match the new item
    expect(ConcurrencyConflict, lambda: items.replace(item, etag=etag), "etag of a previous life")
    return None


def _forged_etags(h: Harness, pk: str) -> list[tuple[str, str]]:
    """Etags the store never issued for the item ``(pk, "k")``: empty, another item's, absurd."""
    items = h.table("items")
    foreign = items.insert(Item(pk=pk, sk="someone-else"))
    return [
        ("an empty etag", ""),
        ("another item's etag", foreign),
        ("a 100 KB etag", "x" * 100_000),
        ("an etag with control characters", 'W/"1"\r\nX-Injected: 1'),
    ]


@case(Capability.CONDITIONAL_WRITES)
def forged_etag_fails_the_condition(h: Harness) -> str | None:
    """an empty, foreign or absurd etag fails replace and delete with ConcurrencyConflict"""
    items = h.table("items")
    pk = h.pk()
    item = Item(pk=pk, sk="k", n=1)
    etag = items.insert(item)
    for what, forged in _forged_etags(h, pk):
        changed = item.model_copy(update={"n": 2})
        expect(ConcurrencyConflict, partial(items.replace, changed, etag=forged), what)
        expect(ConcurrencyConflict, partial(items.delete, pk, "k", etag=forged), f"delete with {what}")
    got = items.get_versioned(pk, "k")
    assert got is not None, "the item survives every forged delete"
    equal((got.item.n, got.etag), (1, etag), "the item after forged writes")
    return None


@case(Capability.TRANSACTIONS)
def forged_etag_fails_in_transactions(h: Harness) -> str | None:
    """an empty, foreign or absurd etag cancels a transaction's replace, delete and check"""
    items = h.table("items")
    pk = h.pk()
    item = Item(pk=pk, sk="k", n=1)
    etag = items.insert(item)

    def attempt(op: str, forged: str) -> None:
        with transaction() as tx:
            tx.put(items, Item(pk=pk, sk="should-not-exist"))
            if op == "replace":
                tx.replace(items, item.model_copy(update={"n": 2}), etag=forged)
            elif op == "delete":
                tx.delete(items, pk, "k", etag=forged)
            else:
                tx.check(items, pk, "k", etag=forged)

    for what, forged in _forged_etags(h, pk):
        for op in ("replace", "delete", "check"):
            exc = expect(TransactionConflict, partial(attempt, op, forged), f"{op} with {what}")
            assert isinstance(exc, TransactionConflict)
            if exc.reasons:
                assert isinstance(exc.reasons[1], ConcurrencyConflict), f"{op} with {what}: {exc.reasons!r}"
            equal(items.get(pk, "should-not-exist"), None, f"{op} with {what}: nothing written")
    got = items.get_versioned(pk, "k")
    assert got is not None, "the item survives every forged transaction"
    equal((got.item.n, got.etag), (1, etag), "the item after forged transactions")
    return None


@case(Capability.CONDITIONAL_WRITES)
def concurrent_increments_no_lost_update(h: Harness) -> str | None:
    """8 threads x 100 update() increments with the default retry budget end at exactly 800"""

    def step(items: Table[Item], pk: str, inc: Callable[[Item], Item], _writer: int, _round: int) -> None:
        items.update(pk, "counter", inc)  # the default retry budget

    items, pk, calls = _race_on_counter(h, THREADS, INCREMENTS, step)
    got = items.get(pk, "counter")
    assert got is not None
    equal(got.n, THREADS * INCREMENTS, "final counter")
    return f"{calls - THREADS * INCREMENTS} retries after conflicts"


def _race_on_counter(
    h: Harness,
    writers: int,
    rounds: int,
    step: Callable[[Table[Item], str, Callable[[Item], Item], int, int], None],
) -> tuple[Table[Item], str, int]:
    """Start ``writers`` threads together, each running ``step`` ``rounds`` times against one counter
    item; fail on any error. Returns the table, the partition and how often the increment ran."""
    items = h.table("items")
    pk = h.pk()
    items.insert(Item(pk=pk, sk="counter", n=0))
    calls = [0]
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(writers)

    def inc(item: Item) -> Item:
        with lock:
            calls[0] += 1
        return item.model_copy(update={"n": item.n + 1})

    def worker(index: int) -> None:
        with use_store(h.store):
            barrier.wait()
            for i in range(rounds):
                try:
                    step(items, pk, inc, index, i)
                except Exception as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")

    _run_threads(worker, writers)
    assert not errors, f"a writer failed: {errors[:3]}"
    return items, pk, calls[0]


def _run_threads(worker: Callable[[int], None], count: int = THREADS) -> None:
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a worker thread did not finish in 300 s"


# -- transactions ------------------------------------------------------------------------------


@case(Capability.TRANSACTIONS)
def transaction_commits_all(h: Harness) -> str | None:
    """a transaction of insert, put, replace, delete and check in one partition commits all"""
    items = h.table("items")
    pk = h.pk()
    keep = items.insert(Item(pk=pk, sk="keep"))
    change = items.insert(Item(pk=pk, sk="change", n=1))
    items.insert(Item(pk=pk, sk="gone"))
    with transaction() as tx:
        tx.insert(items, Item(pk=pk, sk="new"))
        tx.put(items, Item(pk=pk, sk="put"))
        tx.replace(items, Item(pk=pk, sk="change", n=2), etag=change)
        tx.delete(items, pk, "gone")
        tx.check(items, pk, "keep", etag=keep)
        tx.check(items, pk, "never", exists=False)
    equal([i.sk for i in items.query(pk).items], ["change", "keep", "new", "put"], "items after commit")
    got = items.get(pk, "change")
    assert got is not None
    equal(got.n, 2, "replaced value")
    return None


@case(Capability.TRANSACTIONS)
def transaction_deletes_missing_item(h: Harness) -> str | None:
    """a transaction that deletes missing items without an etag commits, like a plain delete"""
    items = h.table("items")
    pk = h.pk()
    items.insert(Item(pk=pk, sk="gone"))
    with transaction() as tx:
        tx.put(items, Item(pk=pk, sk="new"))
        tx.delete(items, pk, "never-was")
        tx.delete(items, pk, "gone")
        tx.delete(items, pk, "also-never-was")
    equal([i.sk for i in items.query(pk).items], ["new"], "items after commit")
    return None


@case(Capability.TRANSACTIONS)
def transaction_of_max_size_deleting_missing_items(h: Harness) -> str | None:
    """a transaction of max_transaction_items operations, most of them deletes of missing items, commits"""
    items = h.table("items")
    pk = h.pk()
    size = min(h.capabilities.max_transaction_items, 100)
    items.insert(Item(pk=pk, sk="gone"))
    with transaction() as tx:
        tx.put(items, Item(pk=pk, sk="new"))
        tx.delete(items, pk, "gone")
        for i in range(size - 2):
            tx.delete(items, pk, f"never-{i:03d}")
    equal([i.sk for i in items.query(pk).items], ["new"], "items after commit")
    return f"{size - 2} deletes of missing items"


TX_WRITERS = 4
TX_INCREMENTS = 10


@case(Capability.TRANSACTIONS)
def transaction_update_under_contention(h: Harness) -> str | None:
    """4 threads x 10 transactions of tx.update (an increment) plus an insert, default budget: none lost"""

    def step(items: Table[Item], pk: str, inc: Callable[[Item], Item], writer: int, round_: int) -> None:
        with transaction() as tx:
            tx.update(items, pk, "counter", inc)
            tx.insert(items, Item(pk=pk, sk=f"log-{writer}-{round_:03d}"))  # the outbox's part

    items, pk, calls = _race_on_counter(h, TX_WRITERS, TX_INCREMENTS, step)
    got = items.get(pk, "counter")
    assert got is not None
    total = TX_WRITERS * TX_INCREMENTS
    equal(got.n, total, "final counter")
    sks, _ = _page_all(items, pk, 1000)
    equal(sum(1 for sk in sks if sk.startswith("log-")), total, "inserted records, one per increment")
    fresh = Item(pk=pk, sk="absent")
    expect(NotFound, lambda: _tx_update(items, fresh), "tx.update of a missing item")
    return f"{calls - total} re-reads after conflicts"


def _tx_update(items: Table[Any], item: Item) -> None:
    with transaction() as tx:
        tx.update(items, item.pk, item.sk, lambda i: i)


@case(Capability.TRANSACTIONS_ACROSS_PARTITIONS)
def transaction_across_partitions(h: Harness) -> str | None:
    """a transaction over two partitions and two tables commits all, and a failure there cancels all"""
    items, other = h.table("items"), h.table("other")
    pk1, pk2 = h.pk(), h.pk()
    with transaction() as tx:
        tx.insert(items, Item(pk=pk1, sk="a"))
        tx.insert(items, Item(pk=pk2, sk="b"))
        tx.put(other, Item(pk=pk1, sk="elsewhere"))
    assert items.get(pk1, "a") is not None, "first partition written"
    assert items.get(pk2, "b") is not None, "second partition written"
    assert other.get(pk1, "elsewhere") is not None, "write to the second table committed"

    def failing() -> None:
        with transaction() as tx:
            tx.put(items, Item(pk=pk1, sk="not-written"))
            tx.insert(other, Item(pk=pk1, sk="elsewhere"))

    expect(TransactionConflict, failing, "a conflict in the other table")
    equal(items.get(pk1, "not-written"), None, "nothing written in the first partition")
    return None


@case(Capability.TRANSACTIONS)
def transaction_all_or_nothing(h: Harness) -> str | None:
    """a failed condition cancels the whole transaction with TransactionConflict"""
    items = h.table("items")
    pk = h.pk()
    items.insert(Item(pk=pk, sk="taken"))
    stale = items.insert(Item(pk=pk, sk="moved"))
    items.put(Item(pk=pk, sk="moved", n=9))

    def attempt(op: str) -> None:
        with transaction() as tx:
            tx.put(items, Item(pk=pk, sk="should-not-exist"))
            if op == "insert":
                tx.insert(items, Item(pk=pk, sk="taken"))
            elif op == "replace":
                tx.replace(items, Item(pk=pk, sk="moved", n=1), etag=stale)
            elif op == "check":
                tx.check(items, pk, "missing")
            else:
                tx.check(items, pk, "taken", exists=False)

    for op, reason in [
        ("insert", AlreadyExists),
        ("replace", ConcurrencyConflict),
        ("check", NotFound),
        ("absent", AlreadyExists),
    ]:
        exc = expect(TransactionConflict, partial(attempt, op), f"transaction with failing {op}")
        assert isinstance(exc, TransactionConflict)
        if exc.reasons:
            equal(len(exc.reasons), 2, f"{op}: one reason per operation")
            assert exc.reasons[0] is None, f"{op}: the good operation has no reason"
            assert isinstance(exc.reasons[1], reason | StoreError), f"{op}: reason {exc.reasons[1]!r}"
        equal(items.get(pk, "should-not-exist"), None, f"{op}: nothing written")
    got = items.get(pk, "moved")
    assert got is not None
    equal(got.n, 9, "item untouched by the failed replace")
    return None


@case(Capability.TRANSACTIONS)
def transaction_at_max_size(h: Harness) -> str | None:
    """a transaction of exactly max_transaction_items operations commits"""
    items = h.table("items")
    pk = h.pk()
    size = h.capabilities.max_transaction_items
    with transaction() as tx:
        for i in range(size):
            tx.put(items, Item(pk=pk, sk=f"t{i:04d}"))
    page = items.query(pk, limit=min(1000, size + 1))
    equal(len(page.items), size, "items written")
    return f"{size} operations"


@case(Capability.TRANSACTIONS)
def transaction_over_max_size(h: Harness) -> str | None:
    """one operation over max_transaction_items raises TooLarge and writes nothing"""
    items = h.table("items")
    pk = h.pk()
    size = h.capabilities.max_transaction_items

    def attempt() -> None:
        with transaction() as tx:
            for i in range(size + 1):
                tx.put(items, Item(pk=pk, sk=f"t{i:04d}"))

    expect(TooLarge, attempt, f"{size + 1} operations")
    equal(items.query(pk).items, [], "nothing written")
    return None


# -- batches -----------------------------------------------------------------------------------


@case(Capability.BATCH)
def batch_over_native_limit(h: Harness) -> str | None:
    """batch put, get and delete of more items than the native batch sizes, chunked transparently"""
    items = h.table("items")
    caps = h.capabilities
    pk = h.pk()
    n = max(caps.batch_write_size * 3 + 7, caps.batch_get_size * 2 + 3)
    written = [Item(pk=pk, sk=f"b{i:05d}", n=i) for i in range(n)]
    items.batch_put(written)
    keys: list[Any] = [(pk, i.sk) for i in written]
    wanted = [*reversed(keys), (pk, "missing-1"), keys[0], (pk, "missing-2")]
    got = items.batch_get(wanted)
    equal(
        [i.sk for i in got], [i.sk for i in reversed(written)], "batch_get in request order, missing left out"
    )
    equal(got[-1], written[0], "documents intact")
    items.batch_put([written[0].model_copy(update={"n": -1}), written[0].model_copy(update={"n": -2})])
    again = items.get(pk, written[0].sk)
    assert again is not None
    equal(again.n, -2, "a key given twice in one batch keeps the last item")
    items.batch_delete([*keys, (pk, "missing-3")])
    equal(items.query(pk).items, [], "after batch_delete")
    return f"{n} items; write size {caps.batch_write_size}, get size {caps.batch_get_size}"


# -- TTL ---------------------------------------------------------------------------------------


@case(Capability.TTL)
def ttl_hidden_on_read(h: Harness) -> str | None:
    """items past their TTL are hidden from get, query and batch_get, and do not hold their key"""
    table = h.table("expiring")
    pk = h.pk()
    now = datetime.now(UTC)
    past = Expiring(pk=pk, sk="past", expires_at=now - timedelta(hours=1))
    future_at = now + timedelta(hours=1)
    future = Expiring(pk=pk, sk="future", expires_at=future_at)
    never = Expiring(pk=pk, sk="never")
    for item in (past, future, never):
        table.put(item)
    equal(table.get(pk, "past"), None, "expired get")
    equal(table.get_versioned(pk, "past"), None, "expired get_versioned")
    got = table.get(pk, "future")
    assert got is not None, "unexpired item visible"
    equal(got.expires_at, future_at.replace(microsecond=0), "expiry kept to the second")
    equal(table.get(pk, "never"), never, "item without expiry")
    equal([i.sk for i in table.query(pk).items], ["future", "never"], "query hides expired")
    if h.claims(Capability.BATCH):
        got_batch = table.batch_get([(pk, "past"), (pk, "future"), (pk, "never")])
        equal([i.sk for i in got_batch], ["future", "never"], "batch_get hides expired")
    table.insert(past.model_copy(update={"expires_at": now + timedelta(hours=1)}))
    assert table.get(pk, "past") is not None, "insert over an expired item succeeds"
    return None


# -- change source -----------------------------------------------------------------------------


@case(Capability.CHANGE_SOURCE)
def change_source_latest_version(h: Harness) -> str | None:
    """each item's latest version arrives, with its key and image, under unique ids; a cursor resumes"""
    table = h.table("changes")
    pk = h.pk()
    a1 = Item(pk=pk, sk="a", n=1)
    a2 = a1.model_copy(update={"n": 2})
    b1 = Item(pk=pk, sk="b", n=1)
    table.insert(a1)
    table.put(a2)
    table.insert(b1)
    latest: dict[Any, Any] = {}
    cursor: str | None = None
    deadline = time.monotonic() + CHANGE_DEADLINE
    seen_ids: list[str] = []
    while latest != {"a": a2, "b": b1}:
        if time.monotonic() > deadline:
            raise AssertionError(f"latest versions did not arrive in {CHANGE_DEADLINE:.0f} s: {latest}")
        changes, cursor = _collect_changes(table, pk, cursor, 1)
        for c in changes:
            assert c.kind in ("insert", "modify"), f"unexpected {c.kind}"
            equal(c.table, table.name, "change names its table")
            equal(c.type, f"portafn.change.{c.kind}", "CloudEvents type")
            latest[c.key.get("sk")] = c.new
            seen_ids.append(c.id)
    equal(len(set(seen_ids)), len(seen_ids), "unique change ids")
    table.put(b1.model_copy(update={"n": 5}))
    later, _ = _collect_changes(table, pk, cursor, 1)
    equal([(c.key.get("sk"), c.new.n) for c in later], [("b", 5)], "resuming from the cursor")
    return None


@case(Capability.CHANGE_SOURCE_EVERY_VERSION)
def change_source_order(h: Harness) -> str | None:
    """insert, modify and remove appear in commit order with keys and images; a cursor resumes"""
    table = h.table("changes")
    pk = h.pk()
    a1 = Item(pk=pk, sk="a", n=1)
    a2 = a1.model_copy(update={"n": 2})
    b1 = Item(pk=pk, sk="b", n=1)
    table.insert(a1)
    table.put(a2)
    table.insert(b1)
    table.delete(pk, "a")
    mine = _collect_changes(table, pk, None, 4)
    changes, cursor = mine
    seen = [(c.kind, c.key.get("sk")) for c in changes]
    equal(
        seen, [("insert", "a"), ("modify", "a"), ("insert", "b"), ("remove", "a")], "kinds and keys in order"
    )
    ids = [c.id for c in changes]
    equal(len(set(ids)), len(ids), "unique change ids")
    equal(changes[0].new, a1, "insert carries the new item")
    equal(changes[1].new, a2, "modify carries the new item")
    assert changes[1].old in (None, a1), "modify carries the old item (or None where not reported)"
    assert changes[3].new is None, "remove carries no new item"
    for c in changes:
        equal(c.table, table.name, "change names its table")
        equal(c.key.get("pk"), pk, "change key has the partition key")
        equal(c.type, f"portafn.change.{c.kind}", "CloudEvents type")
    table.put(b1.model_copy(update={"n": 5}))
    later, _ = _collect_changes(table, pk, cursor, 1)
    equal([(c.kind, c.key.get("sk")) for c in later], [("modify", "b")], "resuming from the cursor")
    return None


def _collect_changes(
    table: Table[Any], pk: str, cursor: str | None, want: int
) -> tuple[list[Any], str | None]:
    """Read changes of partition ``pk`` until ``want`` arrived (change sources may lag), or fail."""
    found: list[Any] = []
    deadline = time.monotonic() + CHANGE_DEADLINE
    while True:
        batch, cursor = table.changes(cursor, limit=100)
        found.extend(c for c in batch if c.key.get("pk") == pk)
        if len(found) >= want:
            return found, cursor
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(found)} of {want} changes arrived in {CHANGE_DEADLINE:.0f} s")
        if not batch:
            time.sleep(0.05)  # polling a change source that delivers asynchronously


# -- queries -----------------------------------------------------------------------------------


def _sorted_partition(h: Harness) -> tuple[str, str]:
    """A str partition and an int partition for the condition tests (written once per run)."""
    cached = h.cache.get("cond")
    if cached is None:
        items, numbers = h.table("items"), h.table("numbers")
        spk, npk = h.pk("cond"), h.pk("ncond")
        h.fill(items, [Item(pk=spk, sk=s) for s in ["a", "ab", "abc", "abd", "b", "ba", "c", "é", "éa"]])
        h.fill(numbers, [Numbered(pk=npk, sk=n) for n in [-3, 0, 1, 2, 5, 9, 10, 11]])
        cached = h.cache["cond"] = (spk, npk)
    return cached


def _sks(page: Any) -> list[Any]:
    return [i.sk for i in page.items]


@case(Capability.QUERY_EQ)
def query_equals(h: Harness) -> str | None:
    """eq selects exactly the one sort key"""
    spk, npk = _sorted_partition(h)
    items, numbers = h.table("items"), h.table("numbers")
    equal(_sks(items.query(spk, eq="ab")), ["ab"], "str eq")
    equal(_sks(items.query(spk, eq="zz")), [], "str eq no match")
    equal(_sks(numbers.query(npk, eq=0)), [0], "int eq")
    return None


@case(Capability.QUERY_BEGINS_WITH)
def query_begins_with(h: Harness) -> str | None:
    """begins_with selects a prefix, including a prefix that is itself a key and a unicode one"""
    spk, _ = _sorted_partition(h)
    items = h.table("items")
    equal(_sks(items.query(spk, begins_with="ab")), ["ab", "abc", "abd"], "prefix ab")
    equal(_sks(items.query(spk, begins_with="a")), ["a", "ab", "abc", "abd"], "prefix a")
    equal(_sks(items.query(spk, begins_with="é")), ["é", "éa"], "unicode prefix")
    equal(_sks(items.query(spk, begins_with="abz")), [], "no match")
    if h.claims(Capability.QUERY_DESCENDING):
        equal(
            _sks(items.query(spk, begins_with="ab", descending=True)),
            ["abd", "abc", "ab"],
            "descending prefix",
        )
    page = items.query(spk, begins_with="a", limit=2)
    rest = items.query(spk, begins_with="a", limit=2, cursor=page.cursor)
    equal(_sks(page) + _sks(rest), ["a", "ab", "abc", "abd"], "paged prefix")
    return None


@case(Capability.QUERY_BETWEEN)
def query_between(h: Harness) -> str | None:
    """between is inclusive at both ends, for str and int sort keys"""
    spk, npk = _sorted_partition(h)
    items, numbers = h.table("items"), h.table("numbers")
    equal(_sks(items.query(spk, between=("ab", "b"))), ["ab", "abc", "abd", "b"], "str between")
    equal(_sks(numbers.query(npk, between=(0, 9))), [0, 1, 2, 5, 9], "int between")
    equal(_sks(numbers.query(npk, between=(3, 4))), [], "empty range")
    if h.claims(Capability.QUERY_DESCENDING):
        equal(
            _sks(numbers.query(npk, between=(0, 9), descending=True)), [9, 5, 2, 1, 0], "descending between"
        )
    return None


@case(Capability.QUERY_RANGE)
def query_greater_less(h: Harness) -> str | None:
    """gt, gte, lt and lte on str and int sort keys (ints compare as numbers: 9 < 10)"""
    spk, npk = _sorted_partition(h)
    items, numbers = h.table("items"), h.table("numbers")
    equal(_sks(numbers.query(npk, gt=9)), [10, 11], "int gt")
    equal(_sks(numbers.query(npk, gte=9)), [9, 10, 11], "int gte")
    equal(_sks(numbers.query(npk, lt=1)), [-3, 0], "int lt")
    equal(_sks(numbers.query(npk, lte=1)), [-3, 0, 1], "int lte")
    equal(_sks(items.query(spk, gt="b")), ["ba", "c", "é", "éa"], "str gt")
    equal(_sks(items.query(spk, gte="b")), ["b", "ba", "c", "é", "éa"], "str gte")
    equal(_sks(items.query(spk, lt="ab")), ["a"], "str lt")
    equal(_sks(items.query(spk, lte="ab")), ["a", "ab"], "str lte")
    if h.claims(Capability.QUERY_DESCENDING):
        equal(_sks(numbers.query(npk, lt=5, descending=True, limit=2)), [2, 1], "descending lt with limit")
    return None


@case(Capability.QUERY_DESCENDING)
def query_descending_paging(h: Harness) -> str | None:
    """paging 2,500 items in descending order returns each exactly once, in reverse order"""
    pk, keys = _big_partition(h)
    got, pages = _page_all(h.table("items"), pk, 100, descending=True)
    equal(got, list(reversed(keys)), "descending pages")
    return f"{pages} pages"


# -- unclaimed capabilities --------------------------------------------------------------------


# -- attached documents ------------------------------------------------------------------------


@case(Capability.SCAN)
def scan_pages_every_partition(h: Harness) -> str | None:
    """a paged scan returns every item of every partition once; its cursor resumes only that scan"""
    table = h.table("scanned")
    table.clear()
    want = {(f"s{p}-{h.pk()}", f"k{i:02d}") for p in range(7) for i in range(9)}
    h.fill(table, [Item(pk=pk, sk=sk) for pk, sk in want])
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = table.scan(limit=10, cursor=cursor)
        pages += 1
        assert len(page.items) <= 10, f"a page of {len(page.items)} over the limit"
        seen.extend((i.pk, i.sk) for i in page.items)
        cursor = page.cursor
        if cursor is None:
            break
        assert pages <= len(want), "the scan does not end"
        if pages == 1:
            other = h.table("items")
            expect(InvalidCursor, partial(other.scan, cursor=cursor), "scan cursor on another table")
            expect(InvalidCursor, partial(table.query, h.pk(), cursor=cursor), "scan cursor in a query")
    equal(len(seen), len(set(seen)), "no item twice")
    equal(set(seen), want, "every item of every partition")
    expect(InvalidCursor, lambda: table.scan(cursor="garbage"), "a garbage scan cursor")
    return f"{len(want)} items in {pages} pages"


@case(Capability.ATTACHED_DOCUMENTS)
def attached_documents_commit_with_the_transaction(h: Harness) -> str | None:
    """documents attached in a transaction commit with it in its partition, and the table never shows them"""
    table = h.table("items")
    pk = h.pk()
    with transaction() as tx:
        tx.put(table, Item(pk=pk, sk="a"))
        tx.attach("g#1", {"m": 1})
    equal([i.sk for i in table.query(pk).items], ["a"], "the table shows only its item")
    equal(table.get(pk, "g#1"), None, "an attached document is no item")
    listed = h.store.list_attached(table.spec, pk=pk)
    equal([(a.name, a.doc) for a in listed], [("g#1", {"m": 1})], "attached documents")
    h.store.delete_attached(listed[0])
    h.store.delete_attached(listed[0])  # already gone: not an error
    equal(h.store.list_attached(table.spec, pk=pk), [], "attached documents after delete")
    return None


def _unclaimed_conditional(h: Harness) -> None:
    items = h.table("items")
    item = Item(pk=h.pk(), sk="k")
    items.put(item)
    items.replace(item, etag="any")


def _unclaimed_transactions(h: Harness) -> None:
    with transaction() as tx:
        tx.put(h.table("items"), Item(pk=h.pk(), sk="k"))


def _unclaimed_across_partitions(h: Harness) -> None:
    with transaction() as tx:
        tx.put(h.table("items"), Item(pk=h.pk(), sk="k"))
        tx.put(h.table("items"), Item(pk=h.pk(), sk="k"))


def _unclaimed_attached(h: Harness) -> None:
    with transaction() as tx:
        tx.put(h.table("items"), Item(pk=h.pk(), sk="k"))
        tx.attach("g#1", {})


def _unclaimed_every_version(h: Harness) -> None:
    table = Table(
        Item,
        partition_key="pk",
        sort_key="sk",
        name=f"{h.prefix}_versions",
        requires=[Capability.CHANGE_SOURCE_EVERY_VERSION],
    )
    table.get(h.pk(), "k")


UNCLAIMED: dict[Capability, Callable[[Harness], Any]] = {
    Capability.CONDITIONAL_WRITES: _unclaimed_conditional,
    Capability.TRANSACTIONS: _unclaimed_transactions,
    Capability.TRANSACTIONS_ACROSS_PARTITIONS: _unclaimed_across_partitions,
    Capability.CHANGE_SOURCE_EVERY_VERSION: _unclaimed_every_version,
    Capability.BATCH: lambda h: h.table("items").batch_put([Item(pk=h.pk(), sk="k")]),
    Capability.TTL: lambda h: h.table("expiring").get(h.pk(), "k"),
    Capability.CHANGE_SOURCE: lambda h: h.table("changes").changes(),
    Capability.QUERY_EQ: lambda h: h.table("items").query(h.pk(), eq="a"),
    Capability.QUERY_BEGINS_WITH: lambda h: h.table("items").query(h.pk(), begins_with="a"),
    Capability.QUERY_BETWEEN: lambda h: h.table("items").query(h.pk(), between=("a", "b")),
    Capability.QUERY_RANGE: lambda h: h.table("items").query(h.pk(), gt="a"),
    Capability.QUERY_DESCENDING: lambda h: h.table("items").query(h.pk(), descending=True),
    Capability.ATTACHED_DOCUMENTS: _unclaimed_attached,
    Capability.SCAN: lambda h: h.table("items").scan(limit=1),
}
