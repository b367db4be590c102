"""The main job: the orders sample through each provider's runtime path, side by side.

``python -m samples.demo`` sends the same requests and events through every installed provider
driver (each builds the provider's native event, calls that adapter's real entry point and
translates the native answer back) on the embedded SQLite store, and prints what each answered.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portafn.http import HttpResponse
from portafn.log import JsonFormatter, get_logger
from portafn.store.registry import open_store, use_store
from portafn.testing import Client, Deliveries, Delivery
from portafn.testing.drivers import available_providers, make_driver
from samples.orders.app import app

Step = tuple[str, Callable[[Client], HttpResponse | Delivery | Deliveries]]

STEPS: list[Step] = [
    (
        "POST /customers/ada/orders {o-1, 1250}",
        lambda c: c.post("/customers/ada/orders", json={"order_id": "o-1", "total_cents": 1250}),
    ),
    (
        "POST /customers/ada/orders {o-2, 300}",
        lambda c: c.post("/customers/ada/orders", json={"order_id": "o-2", "total_cents": 300}),
    ),
    (
        "POST /customers/ada/orders {o-1} again",
        lambda c: c.post("/customers/ada/orders", json={"order_id": "o-1", "total_cents": 1}),
    ),
    (
        "POST /customers/ada/orders {bad body}",
        lambda c: c.post("/customers/ada/orders", json={"order_id": "", "total_cents": -1}),
    ),
    (
        "queue order-events {o-1 paid}",
        lambda c: c.send("order-events", {"customer_id": "ada", "order_id": "o-1", "status": "paid"}),
    ),
    (
        "queue order-events {poison}",
        lambda c: c.send("order-events", {"customer_id": "ada", "order_id": "o-1", "status": "??"}),
    ),
    ("GET /customers/ada/orders/o-1", lambda c: c.get("/customers/ada/orders/o-1")),
    ("GET /customers/ada/orders?limit=1", lambda c: c.get("/customers/ada/orders", query="limit=1")),
    ("GET /customers/ada/orders/nope", lambda c: c.get("/customers/ada/orders/nope")),
    ("DELETE /customers/ada/orders", lambda c: c.delete("/customers/ada/orders")),
    ("schedule nightly", lambda c: c.fire("nightly")),
]


def summarize(outcome: HttpResponse | Delivery | Deliveries) -> str:
    """One short line: status and the gist of the body, or the delivery's outcome."""
    if isinstance(outcome, HttpResponse):
        body: Any = outcome.text()
        try:
            data = outcome.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            if "errors" in data:
                body = "errors at " + ",".join(".".join(e["loc"]) for e in data["errors"])
            elif "title" in data and "status" in data:
                body = data["title"]
            elif "items" in data:
                body = f"{len(data['items'])} item(s), cursor={'yes' if data['cursor'] else 'none'}"
            elif "order_id" in data:
                body = f"{data['order_id']} {data['status']} {data['total_cents']}"
        return f"{outcome.status} {body}"[:48]
    deliveries = [outcome] if isinstance(outcome, Delivery) else list(outcome)
    return ", ".join(
        "ok" if d.ok else f"failed: {d.error}{' (retried)' if d.retry else ''}" for d in deliveries
    )


def _quiet_logs() -> Path:
    """Send the JSON log lines to a file, so the table stays readable."""
    path = Path(".portafn") / "demo.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(JsonFormatter())
    root = get_logger("portafn")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run every step on every provider and print the table; exit 1 if the answers differ."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--providers", default=",".join(available_providers()))
    args = parser.parse_args(argv)
    providers = [p for p in args.providers.split(",") if p]
    log_path = _quiet_logs()
    columns: dict[str, list[str]] = {}
    for provider in providers:
        # A fresh embedded store per provider, so each column starts from the same state.
        db = Path(tempfile.mkdtemp(prefix=f"portafn-demo-{provider}-")) / "orders.db"
        store = open_store(f"sqlite:///{db}")
        with use_store(store):
            client = Client(app, make_driver(provider, app))
            columns[provider] = [summarize(step(client)) for _, step in STEPS]
        store.close()
    width = max(len(label) for label, _ in STEPS)
    col = max(len(x) for xs in columns.values() for x in xs)
    print("request".ljust(width) + " | " + " | ".join(p.ljust(col) for p in providers))
    print("-" * width + "-+-" + "-+-".join("-" * col for _ in providers))
    for i, (label, _) in enumerate(STEPS):
        print(label.ljust(width) + " | " + " | ".join(columns[p][i].ljust(col) for p in providers))
    same = all(len({columns[p][i] for p in providers}) == 1 for i in range(len(STEPS)))
    print()
    print(f"(each invocation's JSON log lines are in {log_path})")
    print(json.dumps({"providers": providers, "identical_answers": same}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
