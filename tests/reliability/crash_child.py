"""The process the crash test kills: commits orders with outbox records, then relays until it
kills itself between a send and the deletion of its outbox record.

Usage: python -m tests.reliability.crash_child STORE_URL ORDERS KILL_AFTER
Prints the published message ids as one JSON line before relaying.
"""

from __future__ import annotations

import json
import sys

from portafn import HttpRequest, Runtime
from portafn.reliability import Relay
from portafn.store.registry import open_store, set_default_store
from tests.reliability.outbox_app import JournalPublisher, outbox, outbox_app


def main(url: str, count: int, kill_after: int) -> None:
    set_default_store(open_store(url))
    publisher = JournalPublisher(kill_after)
    runtime = Runtime(outbox_app, "local", publisher=publisher)
    ids: list[str] = []
    for i in range(count):
        body = json.dumps({"customer_id": f"c-{i % 7}", "order_id": f"o-{i}", "total": i})
        resp = runtime.handle_http(
            HttpRequest(
                "POST",
                f"/customers/c-{i % 7}/orders",
                headers={"content-type": "application/json"},
                body=body,
            )
        )
        if resp.status != 200:
            raise SystemExit(f"order {i} failed: {resp.status} {resp.text()}")
        ids.append(resp.json()["id"])
    print(json.dumps(ids), flush=True)
    Relay(outbox, publisher).start()  # killed from inside, mid-sweep
    raise SystemExit("the relay finished without being killed")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
