"""Cosmos store behaviour beyond the conformance suite, against @vercel/cosmosdb-server behind its
fidelity proxy: insert/modify labels on the change feed, record-by-record resumption, batched
writes and clears, and the proxy's fixes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from portafn_azure.cosmos_store import CosmosStore

from portafn.dev.servers import RunningServer
from portafn.store.port import Delete, Key, Put, TableSpec

TABLE = TableSpec(f"st{uuid.uuid4().hex[:8]}", "pk", "sk")


@pytest.fixture(scope="module")
def store(cosmos_server: RunningServer) -> Iterator[CosmosStore]:
    assert cosmos_server.store_url is not None
    s = CosmosStore(cosmos_server.store_url)
    s.ensure_table(TABLE)
    yield s
    s.clear(TABLE)
    s.close()


def _put(pk: str, sk: str, n: int = 0) -> Put:
    return Put(TABLE, Key(pk, sk), {"pk": pk, "sk": sk, "n": n})


def _mine(store: CosmosStore, pk: str, cursor: str | None = None) -> list[tuple[str, object, object]]:
    records, _ = store.read_changes(TABLE, cursor, 100)
    return [(r.kind, r.key.sk, r.new["n"] if r.new else None) for r in records if r.key.pk == pk]


def test_put_labels_inserts_and_updates(store: CosmosStore) -> None:
    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.write(_put(pk, "a", 1))  # new key: one upsert, an insert
    store.write(_put(pk, "b", 1))
    store.write(_put(pk, "b", 2))  # existing key: an update
    assert sorted(_mine(store, pk)) == [("insert", "a", 1), ("modify", "b", 2)]


def test_each_record_is_a_cursor_just_after_it(store: CosmosStore) -> None:
    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.batch_write([_put(pk, f"k{i}", i) for i in range(5)])  # one batch: one _lsn on Cosmos
    records, end = store.read_changes(TABLE, None, 100)
    mine = [r for r in records if r.key.pk == pk]
    assert [r.key.sk for r in mine] == [f"k{i}" for i in range(5)]
    for i, record in enumerate(mine):
        # Sequences are change ids and sort keys downstream: unique, short and key-safe.
        assert re.fullmatch(r"[A-Za-z0-9_-]+", record.sequence)
        assert len(record.sequence) < 1024
        rest, _ = store.read_changes(TABLE, record.sequence, 100)
        assert [r.key.sk for r in rest if r.key.pk == pk] == [f"k{j}" for j in range(i + 1, 5)]
    assert len({r.sequence for r in mine}) == 5
    assert _mine(store, pk, end) == []
    store.write(_put(pk, "k9", 9))
    assert _mine(store, pk, end) == [("insert", "k9", 9)]


def test_a_small_limit_pages_through_the_feed(store: CosmosStore) -> None:
    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.batch_write([_put(pk, f"k{i}") for i in range(7)])
    seen: list[object] = []
    cursor: str | None = None
    for _ in range(20):
        records, cursor = store.read_changes(TABLE, cursor, 3)
        assert len(records) <= 3
        if not records:
            break
        seen.extend(r.key.sk for r in records if r.key.pk == pk)
    assert seen == [f"k{i}" for i in range(7)]


def test_batch_write_falls_back_when_keys_exist(store: CosmosStore) -> None:
    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.write(_put(pk, "k1", 1))
    # k1 exists: the create batch fails as a whole and the writes are made one by one.
    store.batch_write([_put(pk, "k0", 10), _put(pk, "k1", 11), Delete(TABLE, Key(pk, "missing"))])
    got = {k: store.get(TABLE, Key(pk, k)) for k in ("k0", "k1")}
    assert {k: r.doc["n"] for k, r in got.items() if r} == {"k0": 10, "k1": 11}
    assert sorted(_mine(store, pk)) == [("insert", "k0", 10), ("modify", "k1", 11)]


def test_clear_removes_many_partitions_and_items(cosmos_server: RunningServer) -> None:
    assert cosmos_server.store_url is not None
    s = CosmosStore(cosmos_server.store_url)
    table = TableSpec(f"clr{uuid.uuid4().hex[:8]}", "pk", "sk")
    s.ensure_table(table)
    for p in range(3):
        s.batch_write([Put(table, Key(f"p{p}", f"k{i}"), {"pk": f"p{p}", "sk": f"k{i}"}) for i in range(100)])
    s.batch_write([Put(table, Key("p0", f"x{i}"), {"pk": "p0", "sk": f"x{i}"}) for i in range(30)])
    s.clear(table)
    assert all(
        not s.query(table, f"p{p}", None, descending=False, limit=10, cursor=None).records for p in range(3)
    )
    s.close()


def test_a_transaction_of_upserts_commits(store: CosmosStore) -> None:
    """The server reads each batch operation's partition key, which the SDK sends once in a
    header; the proxy fills it in (without it any Upsert in a batch answered 500)."""
    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.transact([_put(pk, f"t{i:03d}") for i in range(100)])
    page = store.query(TABLE, pk, None, descending=False, limit=200, cursor=None)
    assert len(page.records) == 100


def test_store_refuses_a_batch_over_two_partitions(store: CosmosStore) -> None:
    from portafn.store.errors import Unsupported

    with pytest.raises(Unsupported) as info:
        store.transact([_put("p-a", "k"), _put("p-b", "k")])
    assert "cosmos" in str(info.value)
    assert "transactions: across partitions and tables" in str(info.value)


# -- attached documents (the outbox's records on Cosmos DB) -------------------------------------


def test_attached_documents_commit_with_the_batch_and_stay_out_of_the_table(store: CosmosStore) -> None:
    from portafn.store.port import Attached

    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.transact_attached(
        [_put(pk, "a", 1)], [Attached(TABLE, pk, "g#2", {"m": 2}), Attached(TABLE, pk, "g#1", {"m": 1})]
    )
    # The table sees its one item: not in a query of the partition, nor in its item changes.
    page = store.query(TABLE, pk, None, descending=False, limit=10, cursor=None)
    assert [r.key.sk for r in page.records] == ["a"]
    assert store.get(TABLE, Key(pk, "g#1")) is None
    listed = store.list_attached(TABLE, pk=pk)
    assert [(a.name, a.doc) for a in listed] == [("g#1", {"m": 1}), ("g#2", {"m": 2})]
    assert [a.name for a in store.list_attached(TABLE, prefix="g#") if a.pk == pk] == ["g#1", "g#2"]
    records, cursor = store.read_changes(TABLE, None, 100)
    while True:  # the module's earlier tests wrote to the same feed: read it to the end
        more, cursor = store.read_changes(TABLE, cursor, 100)
        if not more:
            break
        records += more
    mine = [(r.key.sk, bool(r.extra.get("attached"))) for r in records if r.key.pk == pk]
    assert sorted(mine) == [("a", False), ("g#1", True), ("g#2", True)]

    store.delete_attached(listed[0])
    store.delete_attached(listed[0])  # already gone: not an error
    assert [a.name for a in store.list_attached(TABLE, pk=pk)] == ["g#2"]


def test_a_failed_batch_attaches_nothing(store: CosmosStore) -> None:
    from portafn.store.errors import TransactionConflict
    from portafn.store.port import Attached

    pk = f"p-{uuid.uuid4().hex[:8]}"
    store.write(_put(pk, "a", 1))
    taken = Put(TABLE, Key(pk, "a"), {"pk": pk, "sk": "a", "n": 2}, if_absent=True)
    with pytest.raises(TransactionConflict):
        store.transact_attached([taken], [Attached(TABLE, pk, "g#1", {"m": 1})])
    assert store.list_attached(TABLE, pk=pk) == []


def test_attached_documents_stay_in_the_partition_written(store: CosmosStore) -> None:
    from portafn.store.errors import Unsupported
    from portafn.store.port import Attached

    pk = f"p-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Unsupported, match="across partitions"):
        store.transact_attached([_put(pk, "a", 1)], [Attached(TABLE, pk + "-other", "g#1", {})])
    assert store.get(TABLE, Key(pk, "a")) is None


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_identity_is_access_denied_not_retried(status: int) -> None:
    from azure.cosmos.exceptions import CosmosHttpResponseError

    from portafn.store.errors import AccessDenied

    store = CosmosStore("cosmos://localhost:1/db")  # no request is sent: the client is lazy
    error = store._mapped(CosmosHttpResponseError(status_code=status, message="RBAC refused"), "orders", None)
    assert isinstance(error, AccessDenied)
    assert not error.transient
