"""The conformance harness: a store, a unique table-name prefix for this run, and the test tables.

Every run names its tables ``<prefix>_<kind>`` with a fresh random prefix, uses fresh partition
keys per test, and clears every table it made at the end, so runs against a shared cloud account
or emulator do not see each other's data.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from portafn.store.capabilities import Capability
from portafn.store.port import Store
from portafn.store.registry import use_store
from portafn.store.table import Table

M = TypeVar("M", bound=BaseModel)


class Item(BaseModel):
    """A document with a str partition key and a str sort key, and some payload."""

    pk: str
    sk: str
    n: int = 0
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class Numbered(BaseModel):
    """A document with an int sort key."""

    pk: str
    sk: int
    n: int = 0


class Doc(BaseModel):
    """A partition-key-only document whose key field is ``id`` (a name Cosmos DB uses itself)."""

    id: str
    n: int = 0
    ttl: int | None = None  # a plain field named like Cosmos's TTL property; stores must leave it alone


class Expiring(BaseModel):
    """A document with an expiry time."""

    pk: str
    sk: str
    expires_at: datetime | None = None


class EpochExpiring(BaseModel):
    """A document whose expiry is epoch seconds (a float, so NaN and infinities can be tried)."""

    pk: str
    sk: str
    expires_at: float | None = None


_KINDS: dict[str, tuple[type[BaseModel], str, str | None, str | None]] = {
    "items": (Item, "pk", "sk", None),
    "numbers": (Numbered, "pk", "sk", None),
    "docs": (Doc, "id", None, None),
    "other": (Item, "pk", "sk", None),
    "scanned": (Item, "pk", "sk", None),
    "changes": (Item, "pk", "sk", None),
    "expiring": (Expiring, "pk", "sk", "expires_at"),
    "numbered_ttl": (EpochExpiring, "pk", "sk", "expires_at"),
}


class Harness:
    """What each conformance test gets: the store, its tables, and fresh keys."""

    def __init__(self, store: Store, prefix: str | None = None) -> None:
        self.store = store
        self.prefix = prefix or "cf" + secrets.token_hex(4)
        self.tables: dict[str, Table[Any]] = {}
        self.cache: dict[str, Any] = {}

    @property
    def capabilities(self) -> Any:
        """The store's declared capabilities."""
        return self.store.capabilities

    def claims(self, capability: Capability) -> bool:
        """Whether the store declares ``capability``."""
        return self.store.capabilities.has(capability)

    def table(self, kind: str) -> Table[Any]:
        """The run's table of one kind: items, numbers, docs, other, changes or expiring."""
        found = self.tables.get(kind)
        if found is None:
            model, pk, sk, ttl = _KINDS[kind]
            found = Table(model, partition_key=pk, sort_key=sk, ttl=ttl, name=f"{self.prefix}_{kind}")
            self.tables[kind] = found
        return found

    @staticmethod
    def pk(label: str = "p") -> str:
        """A partition key no other test uses."""
        return f"{label}-{uuid.uuid4().hex[:12]}"

    def fill(self, table: Table[M], items: Iterable[M]) -> None:
        """Write items, in batches where the store has them (fast on slow emulators)."""
        batch = list(items)
        if self.claims(Capability.BATCH):
            table.batch_put(batch)
        else:
            for item in batch:
                table.put(item)

    def cleanup(self) -> None:
        """Clear every table this run made."""
        with use_store(self.store):
            for table in self.tables.values():
                with contextlib.suppress(Exception):
                    table.clear()
