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
        _fill_query_partition(table, raw, settings.query_items)
        ops = settings.cosmos_ops if kind == "cosmos" else settings.store_ops
        for op in ("put", "get", "query"):
            progress(f"store {kind}: {op}")
            times = _time_op(op, table, raw, settings, ops)
            out["portafn"][op] = median(times["portafn"])
            out["raw"][op] = median(times["raw"])
        batch_items = settings.cosmos_batch_items if kind == "cosmos" else settings.batch_items
        progress(f"store {kind}: batch of {batch_items}")
        best = _best_batch_rates(table, raw, batch_items, rounds=2 if settings.quick else 1)
        out["portafn"]["batch"] = best["portafn"]
        out["raw"]["batch"] = best["raw"]
    return out


def _fill_query_partition(table: Any, raw: RawStore, items: int) -> None:
    """One partition of ``items`` items each side, for get and query to read."""
    for i in range(items):
        item = _item("q", i)
        table.put(item)
        raw.put(item.model_dump())


def _portafn_op(op: str, table: Any, query_items: int) -> Callable[[int], None]:
    """Run ``op`` on portafn's table ``n`` times, each call on the next item."""
    counter = [0]

    def run(n: int) -> None:
        for _ in range(n):
            counter[0] += 1
            i = counter[0]
            if op == "put":
                table.put(_item("p", i))
            elif op == "get":
                if table.get("q", f"s{i % query_items:06d}") is None:
                    raise RuntimeError("portafn get missed")
            elif len(table.query("q", limit=query_items)) != query_items:
                raise RuntimeError("portafn query came back short")

    return run


def _raw_op(op: str, raw: RawStore, query_items: int) -> Callable[[int], None]:
    """Run ``op`` with the raw SDK ``n`` times, each call on the next item."""
    counter = [0]

    def run(n: int) -> None:
        for _ in range(n):
            counter[0] += 1
            i = counter[0]
            if op == "put":
                raw.put(_item("p", i).model_dump())
            elif op == "get":
                if raw.get("q", f"s{i % query_items:06d}") is None:
                    raise RuntimeError("raw get missed")
            elif len(raw.query("q", query_items)) != query_items:
                raise RuntimeError("raw query came back short")

    return run


def _time_op(op: str, table: Any, raw: RawStore, settings: Settings, ops: int) -> dict[str, list[float]]:
    """Interleaved timed blocks of ``op``, portafn against raw."""
    blocks = settings.warm_blocks
    runs = {
        "portafn": _portafn_op(op, table, settings.query_items),
        "raw": _raw_op(op, raw, settings.query_items),
    }
    return timed_blocks(runs, blocks=blocks, per_block=max(1, ops // blocks), warmup=3)


def _best_batch_rates(table: Any, raw: RawStore, batch_items: int, rounds: int) -> dict[str, float]:
    """Items/s of one batch write each side, best over ``rounds`` (alternating who goes first),
    after an unmeasured warm-up batch each.

    Full runs write the batch once each (10,000 items take long enough to average out); quick
    runs twice, alternating, best of two."""
    best = {"portafn": 0.0, "raw": 0.0}
    # The local servers (a JVM for DynamoDB Local and Firestore) run their first thousands of
    # writes cold: unmeasured, whoever went first paid for that warm-up (portafn, by 0.4x).
    warm = min(batch_items, 1000)
    table.batch_put([_item("warm", i) for i in range(warm)])
    raw.batch_put([_item("warm", i).model_dump() for i in range(warm)])
    for rnd in range(rounds):
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
        "on Cosmos, whose local server takes tens of ms per write), after an unmeasured warm-up batch each, "
        "portafn first then raw. Time ratios: lower is "
        "better (goal <= 1.10x); batch throughput ratio: higher is better (goal >= 0.9x). portafn validates "
        "pydantic models in and out; the raw peer returns SDK dicts."
    )
    return sec


def main(argv: list[str] | None = None) -> int:
    """Only the store table: ``uv run python -m benchmarks.stores [--quick] [KIND ...]``."""
    import argparse
    import os

    from portafn.dev import servers

    parser = argparse.ArgumentParser(prog="python -m benchmarks.stores", description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny iteration counts (a smoke run)")
    parser.add_argument("kinds", nargs="*", metavar="KIND", help=f"some of {', '.join(LABEL)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.kinds) - set(LABEL))
    if unknown:
        parser.error(f"unknown store {unknown[0]!r}; choose from {', '.join(LABEL)}")
    settings = Settings.make(args.quick)
    results: dict[str, dict[str, dict[str, float]] | str] = {}
    for kind in args.kinds or list(LABEL):
        progress(f"starting {kind}")
        server = servers.start(kind)
        try:
            os.environ.update({k: v for k, v in server.env.items() if k != "PORTAFN_STORE"})
            if kind == "dynamodb" and server.endpoint:
                os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
            results[kind] = measure(kind, server, settings)
        finally:
            server.stop()
    print(section(results, settings).markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
