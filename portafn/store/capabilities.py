"""What a store declares it can do. Using anything undeclared raises ``Unsupported``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from portafn.store.errors import Unsupported


class Capability(StrEnum):
    """A feature a store may or may not have, beyond get/insert/put/delete.

    ``TRANSACTIONS`` alone means all-or-nothing within one partition of one table (Cosmos DB's
    transactional batch); ``TRANSACTIONS_ACROSS_PARTITIONS`` adds any items of any tables.
    ``CHANGE_SOURCE`` alone promises each item's latest version eventually (Cosmos DB's change feed
    in latest-version mode coalesces updates and shows no deletes);
    ``CHANGE_SOURCE_EVERY_VERSION`` adds every intermediate version and removals, in order.
    ``SCAN``: ``Table.scan`` pages through every item of a table, across partitions, in the
    store's own order. It reads (and on the clouds bills) the whole table: for listings and
    sweeps that run now and then, not a request path.
    ``ATTACHED_DOCUMENTS``: a transaction can keep documents beside the partition it writes, which
    the table never shows (the outbox's records where transactions stay in one partition).
    """

    CONDITIONAL_WRITES = "conditional writes"
    TRANSACTIONS = "transactions"
    TRANSACTIONS_ACROSS_PARTITIONS = "transactions: across partitions and tables"
    BATCH = "batch"
    TTL = "ttl"
    CHANGE_SOURCE = "change source"
    CHANGE_SOURCE_EVERY_VERSION = "change source: every version and deletes"
    QUERY_EQ = "query: equals"
    QUERY_BEGINS_WITH = "query: begins with"
    QUERY_BETWEEN = "query: between"
    QUERY_RANGE = "query: greater/less than"
    QUERY_DESCENDING = "query: descending"
    ATTACHED_DOCUMENTS = "documents attached to a partition"
    SCAN = "scan: every partition, paged"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """A store's declaration: which capabilities, and its limits.

    ``local_gaps`` maps a capability to why the local stand-in cannot show it (DynamoDB Local never
    expires TTL, say): the capability is still claimed; the conformance table shows the gap.
    """

    supported: frozenset[Capability]
    max_transaction_items: int = 0
    batch_write_size: int = 0
    batch_get_size: int = 0
    max_item_bytes: int = 400 * 1024
    local_gaps: Mapping[Capability, str] = field(default_factory=dict)

    def has(self, capability: Capability) -> bool:
        """Whether the capability is declared."""
        return capability in self.supported

    def require(self, store: str, capability: Capability, table: str | None = None) -> None:
        """Raise ``Unsupported`` naming the store and the capability unless it is declared."""
        if capability not in self.supported:
            raise Unsupported(store, capability.value, table)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view, for reports and the generated capability matrix."""
        return {
            "supported": sorted(c.value for c in self.supported),
            "max_transaction_items": self.max_transaction_items,
            "batch_write_size": self.batch_write_size,
            "batch_get_size": self.batch_get_size,
            "max_item_bytes": self.max_item_bytes,
            "local_gaps": {c.value: why for c, why in self.local_gaps.items()},
        }


ALL = frozenset(Capability)

# A refinement is meaningless without its base: a store lacking the base reports the base.
REFINES: dict[Capability, Capability] = {
    Capability.TRANSACTIONS_ACROSS_PARTITIONS: Capability.TRANSACTIONS,
    Capability.CHANGE_SOURCE_EVERY_VERSION: Capability.CHANGE_SOURCE,
    Capability.ATTACHED_DOCUMENTS: Capability.TRANSACTIONS,
}
