"""The local servers ``portafn dev up`` and the test harness start, by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from portafn.dev.process import ManagedProcess

# name -> module exposing ``start(log_dir: Path | None = None) -> RunningServer``.
SERVERS: dict[str, str] = {
    "dynamodb": "portafn.dev.dynamodb",
    "firestore": "portafn.dev.firestore",
    "pubsub": "portafn.dev.pubsub",
    "cosmos": "portafn.dev.cosmos",
    "azurite": "portafn.dev.azurite",
    "moto": "portafn.dev.moto",
}


@dataclass
class RunningServer:
    """A started server: its process, the environment a client needs, and a store URL if it is a store."""

    name: str
    process: ManagedProcess
    env: dict[str, str] = field(default_factory=dict)
    store_url: str | None = None
    endpoint: str | None = None

    def stop(self) -> None:
        """Stop the server process."""
        self.process.stop()


def start(name: str, log_dir: Path | None = None) -> RunningServer:
    """Start the server called ``name`` and wait until it answers."""
    try:
        module_name = SERVERS[name]
    except KeyError:
        raise ValueError(f"unknown server {name!r}; known: {', '.join(sorted(SERVERS))}") from None
    module = importlib.import_module(module_name)
    server: RunningServer = module.start(log_dir)
    return server
