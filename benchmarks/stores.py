"""Store overhead: a portafn table against the raw SDK, on the same local server.

For each of DynamoDB (DynamoDB Local), Cosmos DB (@vercel/cosmosdb-server) and Firestore (the
official emulator): ``put``, ``get`` and ``query`` (one page of 20 in one partition) are timed one
call at a time in interleaved blocks, portafn's ``Table`` (pydantic model in and out) against
``peers/raw_stores.py`` (SDK call, result left as the SDK gives it). Then a batch write of
``batch_items`` items: ``Table.batch_put`` against a hand-written loop with the SDK's own batch
call (DynamoDB BatchWriteItem of 25, Firestore WriteBatch of 500, Cosmos one upsert per item),
run twice each, alternating, best of two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import BaseModel

from benchmarks.common import Section, Settings, median, progress, ratio, timed_blocks, us
from benchmarks.peers.raw_stores import RawCosmos, RawDynamoDB, RawFirestore, RawStore


class BenchItem(BaseModel):
    """A small item: two keys, a number, a string and a list."""

    pk: str
    sk: str
    n: int
    name: str
    tags: list[str]


def _item(pk: str, i: int) -> BenchItem:
    return BenchItem(pk=pk, sk=f"s{i:06d}", n=i, name=f"item number {i}", tags=["a", "b", "c"])


def _raw_for(kind: str, server: Any) -> RawStore:
    if kind == "dynamodb":
        return RawDynamoDB(server.endpoint)
    if kind == "cosmos":
        from portafn_azure.cosmos_store import CosmosStore

        store = CosmosStore(server.store_url)
        return RawCosmos(store.endpoint, store.database_name)
    from portafn_gcp.firestore_store import FirestoreStore

    fs = FirestoreStore(server.store_url)
    assert fs.project is not None
    return RawFirestore(fs.project)


def measure(kind: str, server: Any, settings: Settings) -> dict[str, dict[str, float]]:
    """Per-op nanoseconds (median over blocks) and batch items/s, for portafn and raw."""
    from portafn.store.registry import open_store, use_store
    from portafn.store.table import Table

    store = open_store(server.store_url)
    table = Table(BenchItem, partition_key="pk", sort_key="sk", name="bench_items")
    raw = _raw_for(kind, server)
    out: dict[str, dict[str, float]] = {"portafn": {}, "raw": {}}
    with use_store(store):
        # One partition of query_items items each side, for get and query to read.
        for i in range(settings.query_items):
            item = _item("q", i)
            table.put(item)
            raw.put(item.model_dump())
        blocks = settings.warm_blocks
        ops = settings.cosmos_ops if kind == "cosmos" else settings.store_ops
        per_block = max(1, ops // blocks)
        for op in ("put", "get", "query"):
            progress(f"store {kind}: {op}")
            times = timed_blocks(
                _runners(op, table, raw, settings), blocks=blocks, per_block=per_block, warmup=3
            )
            out["portafn"][op] = median(times["portafn"])
            out["raw"][op] = median(times["raw"])
        batch = _batch_rates(kind, table, raw, settings)
        out["portafn"]["batch"] = batch["portafn"]
        out["raw"]["batch"] = batch["raw"]
    return out


def _runners(op: str, table: Any, raw: Any, settings: Settings) -> dict[str, Callable[[int], None]]:
    """portafn's and the raw client's loop of ``n`` calls of ``op`` (put, get or query)."""
    return {
        "portafn": _runner(op, table, settings.query_items, model=True),
        "raw": _runner(op, raw, settings.query_items, model=False),
    }


def _runner(op: str, target: Any, size: int, *, model: bool) -> Callable[[int], None]:
    """``n`` calls of ``op`` on a portafn table (``model``) or a raw client (plain dicts)."""
    who = "portafn" if model else "raw"
    count = 0

    def run(n: int) -> None:
        nonlocal count
        for _ in range(n):
            count += 1
            if op == "put":
                item = _item("p", count)
                target.put(item if model else item.model_dump())
            elif op == "get":
                if target.get("q", f"s{count % size:06d}") is None:
                    raise RuntimeError(f"{who} get missed")
            elif len(target.query("q", limit=size) if model else target.query("q", size)) != size:
                raise RuntimeError(f"{who} query came back short")

    return run


def _batch_rates(kind: str, table: Any, raw: Any, settings: Settings) -> dict[str, float]:
    """Items per second of one batch write each (quick runs: best of two, alternating)."""
    batch_items = settings.cosmos_batch_items if kind == "cosmos" else settings.batch_items
    progress(f"store {kind}: batch of {batch_items}")
    best = {"portafn": 0.0, "raw": 0.0}
    # Full runs write the batch once each (10,000 items take long enough to average out).
    for rnd in range(2 if settings.quick else 1):
        pf_items = [_item(f"b{rnd}", i) for i in range(batch_items)]
        raw_items = [item.model_dump() for item in pf_items]
        order: list[tuple[str, Callable[[], None]]] = [
            ("portafn", partial(table.batch_put, pf_items)),
            ("raw", partial(raw.batch_put, raw_items)),
        ]
        for name, fn in order if rnd == 0 else reversed(order):
            start = time.perf_counter_ns()
            fn()
            rate = batch_items / ((time.perf_counter_ns() - start) / 1e9)
            best[name] = max(best[name], rate)
    return best


SERVER_OF = {"dynamodb": "dynamodb", "cosmos": "cosmos", "firestore": "firestore"}
LABEL = {
    "dynamodb": "DynamoDB Local",
    "cosmos": "Cosmos (cosmosdb-server)",
    "firestore": "Firestore emulator",
}


def section(results: dict[str, dict[str, dict[str, float]] | str], settings: Settings) -> Section:
    """The store table: one row per store and contender."""
    sec = Section(
        "stores",
        "Store overhead: portafn table vs raw SDK, same local server",
        [
            "put us",
            "put vs raw",
            "get us",
            "get vs raw",
            "query(20) us",
            "query vs raw",
            "batch items/s",
            "batch throughput vs raw",
        ],
    )
    for kind, got in results.items():
        if isinstance(got, str):
            sec.add(f"{LABEL[kind]}: not measured", **{"put us": got})
            continue
        for name in ("portafn", "raw"):
            row = got[name]
            peer = got["raw"]
            sec.add(
                f"{LABEL[kind]}: {name}",
                **{
                    "put us": us(row["put"]),
                    "put vs raw": ratio(row["put"], peer["put"]),
                    "get us": us(row["get"]),
                    "get vs raw": ratio(row["get"], peer["get"]),
                    "query(20) us": us(row["query"]),
                    "query vs raw": ratio(row["query"], peer["query"]),
                    "batch items/s": f"{row['batch']:.0f}",
                    "batch throughput vs raw": ratio(row["batch"], peer["batch"]),
                },
            )
    sec.notes.append(
        f"{settings.store_ops} calls per op per contender ({settings.cosmos_ops} on Cosmos) in {settings.warm_blocks} "
        f"interleaved blocks, medians over blocks; batch: {settings.batch_items} items ({settings.cosmos_batch_items} "
        "on Cosmos, whose local server takes tens of ms per write), portafn first then raw. Time ratios: lower is "
        "better (goal <= 1.10x); batch throughput ratio: higher is better (goal >= 0.9x). portafn validates "
        "pydantic models in and out; the raw peer returns SDK dicts."
    )
    return sec
