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
from portafn.store.keys import InvalidKey
from portafn.store.table import QueryPage, Table, Versioned

# Imported last and by name: ``from portafn.store import transaction`` gives the function (the
# submodule attribute the import sets is replaced by it here).
from portafn.store.transaction import Transaction, transaction

__all__ = [
    "AlreadyExists",
    "Capabilities",
    "Capability",
    "ConcurrencyConflict",
    "InvalidKey",
    "NotFound",
    "QueryPage",
    "StoreError",
    "StoreUnavailable",
    "Table",
    "Throttled",
    "TooLarge",
    "Transaction",
    "TransactionConflict",
    "Unsupported",
    "Versioned",
    "transaction",
]
