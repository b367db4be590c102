"""Installed as ``sitecustomize`` in a function app the contract driver runs under the real worker.

The contract suite delivers what a function publishes through the driver, as the broker would
(``Client.deliver_published``), and keeps what a Storage queue function dead-letters; under the
worker the function runs in another process, so this hook, imported by Python at the worker's
start (the app's ``.python_packages/lib/site-packages`` is on its ``PYTHONPATH``), writes both as
JSON lines to the files the driver names (``PORTAFN_WORKER_PUBLISHED``, ``PORTAFN_WORKER_POISONED``)
instead of sending them to Azure. Without those settings it does nothing. Test-only: the driver
writes it into its own build of the app; ``portafn package`` never ships it.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, replace
from typing import Any

PUBLISHED = "PORTAFN_WORKER_PUBLISHED"
POISONED = "PORTAFN_WORKER_POISONED"
_lock = threading.Lock()


def append(path: str, record: dict[str, Any]) -> None:
    """One JSON line, written whole (functions may run on several worker threads)."""
    with _lock, open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def make_publisher(runtime: Any) -> Any:
    """A publisher that writes each message's record to ``PORTAFN_WORKER_PUBLISHED``."""
    from portafn.reliability.publish import Outgoing, Publisher

    class FilePublisher(Publisher):
        def publish(self, message: Outgoing) -> None:
            append(os.environ[PUBLISHED], message.to_record())

    return FilePublisher()


def poison_sink(connection: str) -> Any:
    """Replaces ``storage_poison_sink``: poisoned messages go to ``PORTAFN_WORKER_POISONED``."""

    def sink(poisoned: Any) -> None:
        record = asdict(poisoned)
        record["content"] = record["content"].decode("utf-8", "replace")
        append(os.environ[POISONED], record)

    return sink


def install() -> None:
    """Point the ``azure`` provider's publisher and the default poison sink at the files; the
    entry module imports ``storage_poison_sink`` later, so it gets this one."""
    from portafn.plugins import provider, register_provider
    from portafn_azure import outcomes

    register_provider(replace(provider("azure"), publisher="sitecustomize:make_publisher"))
    outcomes.storage_poison_sink = poison_sink  # type: ignore[assignment]


if __name__ == "sitecustomize" and os.environ.get(PUBLISHED):
    install()
