"""One error taxonomy for every store. Each error carries the store, the table and the key."""

from __future__ import annotations

from typing import Any, ClassVar

from portafn.errors import PortafnError


class StoreError(PortafnError):
    """Base of every store error. ``transient`` errors are retried with bounded backoff."""

    transient: ClassVar[bool] = False
    summary: ClassVar[str] = "store error"

    def __init__(
        self,
        store: str,
        table: str | None = None,
        key: Any = None,
        detail: str | None = None,
    ) -> None:
        self.store = store
        self.table = table
        self.key = key
        self.detail = detail
        where = (
            f"{store}" + (f" table {table!r}" if table else "") + (f" key {key!r}" if key is not None else "")
        )
        super().__init__(f"{self.summary} ({where})" + (f": {detail}" if detail else ""))


class NotFound(StoreError):
    """The item does not exist."""

    summary = "item not found"


class AlreadyExists(StoreError):
    """An insert found the key already taken."""

    summary = "item already exists"


class ConcurrencyConflict(StoreError):
    """A conditional write's etag no longer matches: someone else changed the item first."""

    summary = "item changed since it was read"


class TransactionConflict(StoreError):
    """A transaction was cancelled: a condition failed or another transaction touched the same items.

    ``reasons`` lists, per operation in order, None or the error that operation met.
    """

    summary = "transaction cancelled"

    def __init__(
        self,
        store: str,
        table: str | None = None,
        key: Any = None,
        detail: str | None = None,
        reasons: list[StoreError | None] | None = None,
    ) -> None:
        self.reasons = reasons or []
        super().__init__(store, table, key, detail)


class InvalidCursor(StoreError, ValueError):
    """A query or scan cursor this store did not make for this very query (garbage, forged, or from
    another table, partition or query). Raised before the store is asked; HTTP answers 400. It is
    also a ``ValueError``, as a malformed cursor always was."""

    summary = "invalid cursor"


class InvalidValue(StoreError, ValueError):
    """An item holds a value no store can keep, such as a TTL that is NaN, infinite or outside
    the years 1 to 9999. Raised by the table before the store is asked; a caller's mistake, like
    ``InvalidCursor``, so also a ``ValueError``."""

    summary = "invalid value"


class TooLarge(StoreError):
    """An item, batch or transaction is over the store's declared limit."""

    summary = "over the store's size limit"


class Throttled(StoreError):
    """The store asked the caller to slow down; ``retry_after`` is its hint in seconds, if any."""

    transient = True
    summary = "throttled by the store"

    def __init__(
        self,
        store: str,
        table: str | None = None,
        key: Any = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(store, table, key, detail)


class StoreUnavailable(StoreError):
    """The store could not be reached or failed on its side."""

    transient = True
    summary = "store unavailable"


class AccessDenied(StoreError):
    """The function's own identity may not do this on the store (its IAM policy, role assignment or
    credentials): a deployment mistake, never the caller's. Not retried; answered as a bare 500."""

    summary = "access denied to the function"


class Unsupported(StoreError):
    """The store does not declare a capability the caller used; names the store and the capability."""

    summary = "unsupported by this store"

    def __init__(
        self, store: str, capability: str, table: str | None = None, detail: str | None = None
    ) -> None:
        self.capability = capability
        super().__init__(
            store,
            table,
            None,
            f"{store} does not support {capability}" + (f": {detail}" if detail else ""),
        )
