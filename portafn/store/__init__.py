"""Tables over pluggable stores: the port, the errors, the capabilities, and the local stores."""

from portafn.store.capabilities import Capabilities, Capability
from portafn.store.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    NotFound,
    StoreError,
    StoreUnavailable,
    Throttled,
    TooLarge,
    TransactionConflict,
    Unsupported,
)

__all__ = [
    "AlreadyExists",
    "Capabilities",
    "Capability",
    "ConcurrencyConflict",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
    "Throttled",
    "TooLarge",
    "TransactionConflict",
    "Unsupported",
]
