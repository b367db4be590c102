"""The Firestore store against Google's Firestore emulator: layout, conditions, queries, changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from portafn_gcp import firestore_keys as fk
from portafn_gcp.firestore_store import FirestoreStore

from portafn.dev.servers import RunningServer
from portafn.store.errors import AlreadyExists, ConcurrencyConflict, NotFound, TooLarge, TransactionConflict
from portafn.store.port import Check, Delete, Key, Put, SortCondition, TableSpec
from portafn.store.registry import open_store

ORDERS = TableSpec("orders", "customer_id", "order_id")
SINGLE = TableSpec("profiles", "user_id")
TTL = TableSpec("sessions", "sid", ttl_field="expires")
TTL_SORTED = TableSpec("visits", "user", "at", ttl_field="expires")


@pytest.fixture
def store(firestore_clean: RunningServer) -> Iterator[FirestoreStore]:
    s = open_store("firestore://portafn-local?prefix=t_")
    assert isinstance(s, FirestoreStore)
    yield s
    s.close()


def put(store: FirestoreStore, table: TableSpec, key: Key, **doc: object) -> str:
    etag = store.write(Put(table, key, {**key.as_dict(table), **doc}))
    assert etag is not None
    return etag


def test_url_picks_project_database_and_prefix() -> None:
    s = FirestoreStore("firestore://proj?database=db1&prefix=p_")
    assert (s.project, s.database, s.prefix) == ("proj", "db1", "p_")
    assert s._client.peek() is None  # the client is made lazily


@pytest.mark.parametrize("value", ["a/b", ".", "..", "__x__", "a|b", "%2F", "ünï", "", " sp "])
def test_document_ids_are_legal_and_round_trip(value: str) -> None:
    doc_id = fk.doc_id(Key(value, value))
    assert "/" not in doc_id
    assert doc_id not in (".", "..")
    assert not (doc_id.startswith("__") and doc_id.endswith("__"))
    assert fk.key_of_id(doc_id) == Key(value, value)
    assert fk.doc_id(Key("1")) != fk.doc_id(Key(1))


def test_put_get_and_the_stored_envelope(store: FirestoreStore) -> None:
    key = Key("c/1", "o.1")
    etag = put(store, ORDERS, key, total=5, tags=["a"], nested={"x": 1.5, "n": None})
    rec = store.get(ORDERS, key)
    assert rec is not None
    assert rec.etag == etag
    assert rec.doc == {
        "customer_id": "c/1",
        "order_id": "o.1",
        "total": 5,
        "tags": ["a"],
        "nested": {"x": 1.5, "n": None},
    }
    raw = store.collection(ORDERS).document(fk.doc_id(key)).get().to_dict()
    assert raw is not None
    assert raw["_pk"] == "c/1"
    assert raw["_sk"] == "o.1"
    assert raw["doc"]["total"] == 5
    assert store.get(ORDERS, Key("c/1", "missing")) is None


def test_insert_is_conditional(store: FirestoreStore) -> None:
    key = Key("c", "o")
    store.write(Put(ORDERS, key, {"v": 1}, if_absent=True))
    with pytest.raises(AlreadyExists):
        store.write(Put(ORDERS, key, {"v": 2}, if_absent=True))


def test_etag_guards_puts_and_deletes(store: FirestoreStore) -> None:
    key = Key("c", "o")
    first = put(store, ORDERS, key, v=1, gone="yes")
    second = store.write(Put(ORDERS, key, {"v": 2}, etag=first))
    assert second is not None
    assert second != first
    rec = store.get(ORDERS, key)
    assert rec is not None
    assert rec.doc == {"v": 2}
    with pytest.raises(ConcurrencyConflict):
        store.write(Put(ORDERS, key, {"v": 3}, etag=first))
    with pytest.raises(ConcurrencyConflict):
        store.write(Delete(ORDERS, key, etag=first))
    store.write(Delete(ORDERS, key, etag=second))
    assert store.get(ORDERS, key) is None
    with pytest.raises(NotFound):
        store.write(Put(ORDERS, key, {"v": 4}, etag=second))
    store.write(Delete(ORDERS, key))  # deleting a missing item is fine


def test_query_one_partition_with_conditions_and_cursor(store: FirestoreStore) -> None:
    for i in range(7):
        put(store, ORDERS, Key("c1", f"o{i}"), i=i)
    put(store, ORDERS, Key("c2", "o0"), i=99)
    page = store.query(ORDERS, "c1", None, descending=False, limit=3, cursor=None)
    assert [r.key.sk for r in page.records] == ["o0", "o1", "o2"]
    assert page.cursor is not None
    page2 = store.query(ORDERS, "c1", None, descending=False, limit=3, cursor=page.cursor)
    page3 = store.query(ORDERS, "c1", None, descending=False, limit=3, cursor=page2.cursor)
    assert [r.key.sk for r in page2.records + page3.records] == ["o3", "o4", "o5", "o6"]
    assert page3.cursor is None
    desc = store.query(
        ORDERS, "c1", SortCondition("between", "o2", "o4"), descending=True, limit=10, cursor=None
    )
    assert [r.key.sk for r in desc.records] == ["o4", "o3", "o2"]
    pre = store.query(
        ORDERS, "c1", SortCondition("begins_with", "o"), descending=False, limit=100, cursor=None
    )
    assert len(pre.records) == 7
    gt = store.query(ORDERS, "c1", SortCondition("gt", "o5"), descending=False, limit=10, cursor=None)
    assert [r.key.sk for r in gt.records] == ["o6"]


def test_table_without_sort_key(store: FirestoreStore) -> None:
    put(store, SINGLE, Key("u1"), name="Ann")
    page = store.query(SINGLE, "u1", None, descending=False, limit=5, cursor=None)
    assert [r.doc["name"] for r in page.records] == ["Ann"]


def test_transactions_apply_all_or_nothing(store: FirestoreStore) -> None:
    etag = put(store, ORDERS, Key("c", "a"), v=1)
    store.transact(
        [Put(ORDERS, Key("c", "b"), {"v": 2}, if_absent=True), Check(ORDERS, Key("c", "a"), etag=etag)]
    )
    assert store.get(ORDERS, Key("c", "b")) is not None
    with pytest.raises(TransactionConflict) as info:
        store.transact(
            [Put(ORDERS, Key("c", "z"), {"v": 3}), Put(ORDERS, Key("c", "a"), {"v": 9}, if_absent=True)]
        )
    assert info.value.reasons[0] is None
    assert isinstance(info.value.reasons[1], AlreadyExists)
    assert store.get(ORDERS, Key("c", "z")) is None


def test_batches(store: FirestoreStore) -> None:
    ops = [Put(ORDERS, Key("c", f"o{i:03d}"), {"i": i}) for i in range(500)]
    assert store.batch_write(ops) == []
    found, missing = store.batch_get(ORDERS, [Key("c", "o000"), Key("c", "o499"), Key("c", "nope")])
    assert sorted(str(r.key.sk) for r in found) == ["o000", "o499"]
    assert missing == []
    with pytest.raises(TooLarge):
        store.batch_write([*ops, ops[0]])
    store.clear(ORDERS)
    assert store.query(ORDERS, "c", None, descending=False, limit=5, cursor=None).records == []


@pytest.mark.parametrize("descending", [False, True])
def test_expired_items_still_stored_do_not_end_a_page_early(store: FirestoreStore, descending: bool) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    # Expired items (the emulator never deletes them) sit before, between and after the live ones.
    expired = "xx.xxx..x.xx"
    for i, flag in enumerate(expired):
        put(store, TTL_SORTED, Key("u", f"k{i:02}"), **({"expires": past} if flag == "x" else {}))
    live = [f"k{i:02}" for i, flag in enumerate(expired) if flag == "."]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.query(TTL_SORTED, "u", None, descending=descending, limit=2, cursor=cursor)
        pages += 1
        assert len(page.records) == 2 or page.cursor is None, "only the last page may be short"
        seen += [str(r.key.sk) for r in page.records]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == sorted(live, reverse=descending)
    assert pages == 2


def test_ttl_field_is_stored_for_the_policy_and_expired_items_hidden(store: FirestoreStore) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    put(store, TTL, Key("old"), expires=past)
    put(store, TTL, Key("new"), expires=future)
    raw = store.collection(TTL).document(fk.doc_id(Key("new"))).get().to_dict()
    assert raw is not None
    assert isinstance(raw["_expires"], datetime)
    assert store.get(TTL, Key("old")) is None
    assert store.get(TTL, Key("new")) is not None


def test_an_expired_item_does_not_hold_its_key(store: FirestoreStore) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    put(store, TTL, Key("s"), expires=past)  # still stored: the emulator never deletes it
    assert store.collection(TTL).document(fk.doc_id(Key("s"))).get().exists
    etag = store.write(Put(TTL, Key("s"), {"sid": "s", "v": 2}, if_absent=True))
    rec = store.get(TTL, Key("s"))
    assert rec is not None
    assert (rec.doc, rec.etag) == ({"sid": "s", "v": 2}, etag)
    raw = store.collection(TTL).document(fk.doc_id(Key("s"))).get().to_dict()
    assert raw is not None
    assert "_expires" not in raw  # the new item has no TTL value: the old expiry went with it
    with pytest.raises(AlreadyExists):  # a live item still holds its key
        store.write(Put(TTL, Key("s"), {"sid": "s", "v": 3}, if_absent=True))


def test_a_conditional_replace_that_drops_the_ttl_drops_the_expiry(store: FirestoreStore) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    etag = put(store, TTL, Key("k"), expires=future)
    store.write(Put(TTL, Key("k"), {"sid": "k"}, etag=etag))
    raw = store.collection(TTL).document(fk.doc_id(Key("k"))).get().to_dict()
    assert raw is not None
    assert "_expires" not in raw


def test_changes_from_the_snapshot_listener(store: FirestoreStore) -> None:
    key = Key("c", "o")
    put(store, ORDERS, Key("c", "before"), v=0)
    first, cursor = store.read_changes(ORDERS, None)  # starts the listener: the latest versions
    assert [(c.kind, c.key, c.new) for c in first] == [
        ("insert", Key("c", "before"), {"customer_id": "c", "order_id": "before", "v": 0})
    ]
    seen = []
    # Reading after each write makes every change its own snapshot (a listener may coalesce
    # writes that land between two snapshots; document events in production do not).
    etag = put(store, ORDERS, key, v=1)
    for write in (
        lambda: store.write(Put(ORDERS, key, {"v": 2}, etag=etag)),
        lambda: store.write(Delete(ORDERS, key)),
        lambda: None,
    ):
        changes, cursor = store.read_changes(ORDERS, cursor)
        seen += changes
        write()
    kinds = [(c.kind, c.key, (c.old or {}).get("v"), (c.new or {}).get("v")) for c in seen]
    assert kinds == [("insert", key, None, 1), ("modify", key, 1, 2), ("remove", key, 2, None)]
    assert [int(c.sequence) for c in seen] == [2, 3, 4]
    again, _ = store.read_changes(ORDERS, cursor)
    assert again == []


def test_long_keys_get_hashed_ids_and_keep_their_key(store: FirestoreStore) -> None:
    key = Key("p" * 1024, "é" * 512)
    put(store, ORDERS, key, v=1)
    assert fk.doc_id(key).startswith("h")
    rec = store.get(ORDERS, key)
    assert rec is not None
    assert rec.key == key
    assert [
        r.key for r in store.query(ORDERS, key.pk, None, descending=False, limit=5, cursor=None).records
    ] == [key]


@pytest.mark.parametrize("refusal", ["PermissionDenied", "Unauthenticated"])
def test_a_refused_identity_is_access_denied_not_retried(refusal: str) -> None:
    from google.api_core import exceptions as gexc

    from portafn.store.errors import AccessDenied

    store = FirestoreStore("firestore://proj")  # no request is sent: the client is lazy
    with pytest.raises(AccessDenied) as caught, store._errors(ORDERS, Key("c", "o")):
        raise getattr(gexc, refusal)("Missing or insufficient permissions.")
    assert not caught.value.transient
