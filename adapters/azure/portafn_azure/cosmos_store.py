"""The Cosmos DB store: ``cosmos://ACCOUNT/DATABASE`` or ``cosmos://HOST:PORT/DATABASE?tls=false``.

- ``ACCOUNT`` alone (no dot, no port) means ``https://ACCOUNT.documents.azure.com:443/``; a host
  with a dot or a port is used as given, over HTTPS unless ``tls=false`` (the local server).
- ``prefix=dev-`` prefixes every container name.
- The key comes from ``PORTAFN_COSMOS_KEY``; without it, ``azure.identity.DefaultAzureCredential``
  (Entra ID) is used if ``azure-identity`` is installed. The key is never logged or put in errors.

One container per table, partition key path ``/pk``. An item is
``{"id", "pk", "sk", "doc", "m", "ttl"?}``: ``id`` is the encoded key (``cosmos_keys.item_id``; Cosmos
ids cannot hold ``/ \\ ? #``), ``pk``/``sk`` the key values (queried and ordered on), ``doc`` the
portafn document untouched (so a field named ``id`` or ``ttl`` cannot clash with Cosmos's own),
``m`` whether the item was modified since it was created (the change feed's latest-version mode
cannot tell inserts from updates otherwise) and ``ttl`` the seconds left to live when the table has
a TTL field (containers are created with ``default_ttl=-1``: TTL on, no default expiry).

Attached documents (the outbox's records, see ``portafn.store.port.Attached``) share the
container and partition of the items they sit beside: ``{"id": "o~<name>", "pk", "on": name,
"ob": document}``. Having no ``doc``, they are left out of queries (``IS_DEFINED(c.doc)``) and out
of the table's changes; ``read_changes`` reports them flagged ``extra["attached"]``.

Etags are Cosmos's ``_etag``, used with If-Match. Queries are parameterised, within one partition,
ordered by ``sk``. The cursor is the last sort key returned (keyset paging), not Cosmos's
continuation token: a continuation token of an ORDER BY query is tied to the query text and can
run to kilobytes, and the local server's tokens are offsets that skip items inserted meanwhile;
``c.sk > @after`` resumes exactly after the last item on every server. Transactions are Cosmos
transactional batches: one container and one partition, at most 100 operations. The change source
is the change feed (latest version mode: deletes are not reported and there is no old image).
429 becomes ``Throttled`` with the server's ``x-ms-retry-after-ms``. The SDK client is made once,
on first use.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import math
import os
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from portafn.lazy import Lazy
from portafn.store.capabilities import Capabilities, Capability
from portafn.store.cursor import decode_cursor, decode_sort_position, encode_cursor, query_scope, scan_scope
from portafn.store.deadline import remaining
from portafn.store.errors import (
    AccessDenied,
    AlreadyExists,
    ConcurrencyConflict,
    InvalidCursor,
    NotFound,
    StoreError,
    StoreUnavailable,
    Throttled,
    TooLarge,
    TransactionConflict,
    Unsupported,
)
from portafn.store.port import (
    Attached,
    ChangeRecord,
    Check,
    Delete,
    Key,
    KeyValue,
    Page,
    Put,
    Record,
    SortCondition,
    Store,
    TableSpec,
    TransactOp,
    Write,
)
from portafn_azure.cosmos_keys import attached_id, item_id

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy

R = TypeVar("R")

KEY_ENV = "PORTAFN_COSMOS_KEY"
PARTITION_PATH = "/pk"
MAX_TRANSACTION_ITEMS = 100
MAX_ITEM_BYTES = 2 * 1024 * 1024
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Cosmos etags are a quoted GUID-like token (about 40 characters); anything far longer is forged.
MAX_ETAG_CHARS = 256
MAX_TTL_SECONDS = 2**31 - 1
READ_SESSION_NOT_AVAILABLE = 1002  # substatus of a 404 that is a replica lag, not a missing item
TRANSIENT_STATUSES = frozenset({408, 410, 449, 503})  # timeout, gone (split), retry with, unavailable
NEVER_ETAG = '"portafn-never-issued"'  # not a GUID: Cosmos never issues it, so it never matches
_SORT_SQL = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

LOCAL_GAPS: dict[Capability, str] = {
    Capability.TTL: "@vercel/cosmosdb-server accepts the ttl property but never deletes expired items "
    "(tables hide them on read)",
}

_SUPPORTED = frozenset(
    {
        Capability.CONDITIONAL_WRITES,
        Capability.TRANSACTIONS,
        Capability.BATCH,
        Capability.TTL,
        Capability.CHANGE_SOURCE,
        Capability.QUERY_EQ,
        Capability.QUERY_BEGINS_WITH,
        Capability.QUERY_BETWEEN,
        Capability.QUERY_RANGE,
        Capability.QUERY_DESCENDING,
        Capability.ATTACHED_DOCUMENTS,
        Capability.SCAN,
    }
)


def endpoint_from_url(url: str) -> tuple[str, str, str]:
    """The account endpoint, database name and container prefix a ``cosmos://`` URL names."""
    parts = urlsplit(url)
    if parts.scheme != "cosmos":
        raise ValueError(f"not a cosmos:// URL: {url!r}")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"cosmos URL {url!r} names no account or host")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    database = unquote(parts.path.strip("/")) or params.get("database", "")
    if not database or "/" in database:
        raise ValueError(f"cosmos URL {url!r} must name one database: cosmos://ACCOUNT/DATABASE")
    tls = params.get("tls", "true").lower() not in ("false", "0", "no")
    if parts.port is None and "." not in host and host not in _LOCAL_HOSTS:
        endpoint = f"https://{host}.documents.azure.com:443/"
    else:
        scheme = "https" if tls else "http"
        endpoint = f"{scheme}://{host}" + (f":{parts.port}" if parts.port else "") + "/"
    return endpoint, database, params.get("prefix", "")


class CosmosStore(Store):
    """A portafn store on Azure Cosmos DB for NoSQL (or the local ``@vercel/cosmosdb-server``).

    ``capabilities`` on the class is the cloud service's declaration (the capability matrix and
    ``portafn check`` read it without opening a store); an instance on a loopback endpoint adds
    ``LOCAL_GAPS``. Transactions stay within one partition of one container and the change feed
    gives each item's latest version, so neither refinement (across partitions, every version) is
    claimed: the table raises ``Unsupported`` for them.
    """

    scheme: ClassVar[str] = "cosmos"
    capabilities = Capabilities(
        supported=_SUPPORTED,
        max_transaction_items=MAX_TRANSACTION_ITEMS,
        batch_write_size=MAX_TRANSACTION_ITEMS,
        batch_get_size=100,
        max_item_bytes=MAX_ITEM_BYTES,
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.endpoint, self.database_name, self.prefix = endpoint_from_url(url)
        host = urlsplit(self.endpoint).hostname or ""
        self.is_local = host in _LOCAL_HOSTS
        if self.is_local:
            self.capabilities = dataclasses.replace(type(self).capabilities, local_gaps=dict(LOCAL_GAPS))
        self._conn: Lazy[tuple[CosmosClient, DatabaseProxy]] = Lazy(self._connect)
        self._containers: dict[str, ContainerProxy] = {}

    def __repr__(self) -> str:
        # The URL holds no secret, but keep the repr to what identifies the store.
        return f"CosmosStore({self.endpoint}, database={self.database_name!r})"

    # -- clients ---------------------------------------------------------------------------

    def _connect(self) -> tuple[CosmosClient, DatabaseProxy]:
        from azure.cosmos import CosmosClient

        key = os.environ.get(KEY_ENV)
        credential: Any = key if key else _default_credential()
        # The local server is one region at one address: discovery would look elsewhere.
        kwargs: dict[str, Any] = {"enable_endpoint_discovery": not self.is_local, **_no_sdk_retries()}
        client = CosmosClient(self.endpoint, credential=credential, **kwargs)
        database = self._call(
            None, None, lambda: client.create_database_if_not_exists(self.database_name, **_bound())
        )
        return client, database

    def _db(self) -> DatabaseProxy:
        return self._conn.get()[1]

    def _container(self, table: TableSpec) -> ContainerProxy:
        found = self._containers.get(table.name)
        if found is None:
            self.ensure_table(table)
            found = self._containers[table.name]
        return found

    def container_name(self, table: str) -> str:
        """The container that holds a table."""
        return self.prefix + table

    # -- error mapping -----------------------------------------------------------------------

    def _call(self, table: str | None, key: Any, fn: Callable[[], R]) -> R:
        from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
        from azure.cosmos import exceptions

        try:
            return fn()
        except exceptions.CosmosHttpResponseError as exc:
            raise self._mapped(exc, table, key) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StoreUnavailable(
                self.name, table, key, f"cannot reach {self.endpoint}: {type(exc).__name__}"
            ) from None
        except AzureError as exc:
            raise StoreUnavailable(self.name, table, key, type(exc).__name__) from None

    def _mapped(self, exc: Any, table: str | None, key: Any) -> StoreError:
        """The store error for a Cosmos answer, by its status and substatus codes ("HTTP status
        codes for Azure Cosmos DB"): only 408, 410, 449 and 5xx are retried as unavailable."""
        status = int(getattr(exc, "status_code", 0) or 0)
        sub = int(getattr(exc, "sub_status", 0) or 0)
        if status == 404 and sub == READ_SESSION_NOT_AVAILABLE:
            return StoreUnavailable(self.name, table, key, "read session not available yet (404/1002)")
        if status == 404:
            return NotFound(self.name, table, key)
        if status in (401, 403):
            return AccessDenied(self.name, table, key, f"Cosmos DB refused the identity ({status}/{sub})")
        if status == 409:
            return AlreadyExists(self.name, table, key)
        if status == 412:
            return ConcurrencyConflict(self.name, table, key)
        if status == 413:
            return TooLarge(self.name, table, key, "over Cosmos DB's 2 MB item or request limit")
        if status == 429:
            return Throttled(self.name, table, key, "request rate too large", retry_after=_retry_after(exc))
        if status in TRANSIENT_STATUSES or status >= 500 or status == 0:
            return StoreUnavailable(self.name, table, key, f"Cosmos DB answered {status or 'an error'}/{sub}")
        return StoreError(self.name, table, key, f"Cosmos DB refused the request ({status}/{sub})")

    # -- items -------------------------------------------------------------------------------

    def _item(self, table: TableSpec, key: Key, doc: dict[str, Any], *, modified: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"id": item_id(key), "pk": key.pk, "doc": doc, "m": modified}
        if key.sk is not None:
            item["sk"] = key.sk
        ttl = _ttl_seconds(table, doc)
        if ttl is not None:
            item["ttl"] = ttl
        return item

    def _record(self, table: TableSpec, item: dict[str, Any]) -> Record:
        sk = item.get("sk") if table.sort_key is not None else None
        return Record(Key(item["pk"], sk), dict(item.get("doc") or {}), str(item.get("_etag", "")))

    # -- the port ----------------------------------------------------------------------------

    def ensure_table(self, table: TableSpec) -> None:
        if table.name in self._containers:
            return
        from azure.cosmos import PartitionKey

        db = self._db()
        container = self._call(
            table.name,
            None,
            lambda: db.create_container_if_not_exists(
                id=self.container_name(table.name),
                partition_key=PartitionKey(path=PARTITION_PATH),
                default_ttl=-1,  # TTL on with no default: only items with a ttl expire
                **_bound(),
            ),
        )
        self._containers[table.name] = container

    def get(self, table: TableSpec, key: Key) -> Record | None:
        container = self._container(table)
        try:
            item = self._call(
                table.name, key, lambda: container.read_item(item_id(key), partition_key=key.pk, **_bound())
            )
        except NotFound:
            return None
        return self._record(table, item)

    def write(self, op: Write) -> str | None:
        container = self._container(op.table)
        name, key = op.table.name, op.key
        if isinstance(op, Delete):
            self._delete(container, op)
            return None
        _check_size(self.name, op)
        from azure.core import MatchConditions

        if op.if_absent:
            body = self._item(op.table, key, op.doc, modified=False)
            created = self._call(name, key, lambda: container.create_item(body, **_bound()))
            return str(created["_etag"])
        if op.etag is not None:
            body = self._item(op.table, key, op.doc, modified=True)
            etag = _wire_etag(op.etag)
            replaced = self._call(
                name,
                key,
                lambda: container.replace_item(
                    body["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified, **_bound()
                ),
            )
            return str(replaced["_etag"])
        return self._upsert(op)

    def _upsert(self, op: Put) -> str:
        """An unconditional put in one request when the key is new (the usual case).

        The item is written as unmodified (``m: false``); only if Cosmos answers 200 (it replaced
        an item) is ``m`` set by a second, etag-conditional write, so the change feed can still
        tell an insert from an update. A concurrent writer winning that second write is fine: its
        version is the newer one.
        """
        from azure.core import MatchConditions

        container = self._container(op.table)
        name, key = op.table.name, op.key
        statuses: list[int] = []

        def hook(response: Any) -> None:
            statuses.append(int(response.http_response.status_code))

        fresh = self._item(op.table, key, op.doc, modified=False)
        written = self._call(
            name, key, lambda: container.upsert_item(fresh, raw_response_hook=hook, **_bound())
        )
        etag = str(written["_etag"])
        if not statuses or statuses[-1] != 200:
            return etag
        body = self._item(op.table, key, op.doc, modified=True)
        try:
            marked = self._call(
                name,
                key,
                lambda: container.replace_item(
                    body["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified, **_bound()
                ),
            )
        except (ConcurrencyConflict, NotFound):
            return etag  # another write came after ours: it is the latest version
        return str(marked["_etag"])

    def _delete(self, container: ContainerProxy, op: Delete) -> None:
        from azure.core import MatchConditions

        name, key = op.table.name, op.key
        kwargs: dict[str, Any] = {}
        if op.etag is not None:
            kwargs = {"etag": _wire_etag(op.etag), "match_condition": MatchConditions.IfNotModified}
        try:
            self._call(
                name,
                key,
                lambda: container.delete_item(item_id(key), partition_key=key.pk, **kwargs, **_bound()),
            )
        except NotFound:
            if op.etag is not None:
                raise
        return None

    def query(
        self,
        table: TableSpec,
        pk: KeyValue,
        condition: SortCondition | None,
        *,
        descending: bool,
        limit: int,
        cursor: str | None,
    ) -> Page:
        container = self._container(table)
        # TOP n+1 tells whether more items follow without a second round trip.
        sql = "SELECT TOP @n * FROM c WHERE c.pk = @pk AND IS_DEFINED(c.doc)"
        params: list[dict[str, Any]] = [{"name": "@pk", "value": pk}, {"name": "@n", "value": limit + 1}]
        if condition is not None:
            if condition.op == "begins_with":
                sql += " AND STARTSWITH(c.sk, @v)"
            elif condition.op == "between":
                sql += " AND c.sk >= @v AND c.sk <= @hi"
                params.append({"name": "@hi", "value": condition.high})
            else:
                sql += f" AND c.sk {_SORT_SQL[condition.op]} @v"
            params.append({"name": "@v", "value": condition.value})
        scope = query_scope(table.name, pk, condition, descending)
        if cursor is not None:
            after = decode_sort_position(cursor, scope=scope, store=self.name, table=table.name)
            if table.sort_key is None:
                return Page([], None)  # a partition without sort key holds one item, all on page one
            sql += " AND c.sk " + ("<" if descending else ">") + " @after"
            params.append({"name": "@after", "value": after})
        if table.sort_key is not None:
            sql += " ORDER BY c.sk " + ("DESC" if descending else "ASC")

        def run() -> list[dict[str, Any]]:
            return list(container.query_items(sql, parameters=params, partition_key=pk, **_bound()))

        items = self._call(table.name, None, run)
        records = [self._record(table, item) for item in items[:limit]]
        more = len(items) > limit and table.sort_key is not None
        last = records[-1].key.sk if records else None
        return Page(records, encode_cursor(last, scope=scope) if more and last is not None else None)

    def scan(self, table: TableSpec, *, limit: int, cursor: str | None) -> Page:
        """A cross-partition query in id order (ids encode the whole key, so they are unique in
        the container); the cursor is the last id, resumed with ``c.id > @after``."""
        container = self._container(table)
        scope = scan_scope(table.name)
        sql = "SELECT TOP @n * FROM c WHERE IS_DEFINED(c.doc)"
        params: list[dict[str, Any]] = [{"name": "@n", "value": limit + 1}]
        if cursor is not None:
            after = decode_cursor(cursor, scope=scope, store=self.name, table=table.name)
            if not (isinstance(after, str) and 0 < len(after) <= 255):
                raise InvalidCursor(self.name, table.name, detail="not a cursor this store made")
            sql += " AND c.id > @after"
            params.append({"name": "@after", "value": after})
        sql += " ORDER BY c.id"

        def run() -> list[dict[str, Any]]:
            return list(
                container.query_items(sql, parameters=params, enable_cross_partition_query=True, **_bound())
            )

        items = self._call(table.name, None, run)
        records = [self._record(table, item) for item in items[:limit]]
        more = len(items) > limit
        return Page(records, encode_cursor(str(items[limit - 1]["id"]), scope=scope) if more else None)

    def transact(self, ops: Sequence[TransactOp]) -> None:
        if not ops:
            return
        if len(ops) > MAX_TRANSACTION_ITEMS:
            raise TooLarge(
                self.name, ops[0].table.name, None, f"{len(ops)} operations; Cosmos DB takes at most 100"
            )
        self._commit(ops)

    def _transaction_batch(self, ops: Sequence[TransactOp], blind: frozenset[int] = frozenset()) -> list[Any]:
        first = ops[0]
        if any(op.table.name != first.table.name or op.key.pk != first.key.pk for op in ops):
            # Tables stop this when the second partition joins; this covers direct callers.
            raise Unsupported(
                self.name,
                Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
                first.table.name,
                "a Cosmos DB transaction spans one partition of one table",
            )
        for op in ops:
            if isinstance(op, Put):
                _check_size(self.name, op)
        batch: list[Any] = []
        for index, op in enumerate(ops):
            batch.extend(self._batch_ops(op, index in blind))
        if len(batch) > MAX_TRANSACTION_ITEMS:
            # Only absence checks (two batch operations each) get here: blind deletes are fitted.
            raise TooLarge(
                self.name,
                first.table.name,
                None,
                f"{len(batch)} batch operations; Cosmos DB takes at most 100 "
                "(a check that an item is absent takes two)",
            )
        return batch

    def _commit(self, ops: Sequence[TransactOp], extra: Sequence[Any] = ()) -> None:
        """Run the transaction's batch (plus ``extra`` operations), hiding Cosmos's 404 on deletes.

        Deleting a missing item without an etag succeeds in a portafn transaction, but fails a
        Cosmos batch ("Transactional batch operations": any failed operation fails the batch). A
        batch that failed only on such deletes applied nothing, so it is sent again with each of
        them as upsert-then-delete, which succeeds whatever the item's state. Cosmos reports only
        the first failing operation, hence the loop, bounded by the number of deletes.
        """
        blind: frozenset[int] = frozenset()
        while True:
            kept = _kept(ops, blind, len(extra))
            if not kept:
                return  # every operation was a delete of a missing item: nothing to do
            sent = [ops[i] for i in kept]
            sent_blind = frozenset(n for n, i in enumerate(kept) if i in blind)
            try:
                self._execute_batch(sent, self._transaction_batch(sent, sent_blind) + list(extra), sent_blind)
                return
            except TransactionConflict as exc:
                missing = frozenset(kept[n] for n in _missing_deletes(sent, exc.reasons))
                if not missing or missing & blind:
                    raise
                blind |= missing

    # -- attached documents (the outbox's records) ---------------------------------------------

    def transact_attached(self, ops: Sequence[TransactOp], attached: Sequence[Attached]) -> None:
        """The transaction's batch plus a ``create`` per attached document, in the same partition."""
        if not ops:
            raise ValueError("attached documents need an operation that names their partition")
        if len(ops) + len(attached) > MAX_TRANSACTION_ITEMS:
            raise TooLarge(
                self.name,
                ops[0].table.name,
                None,
                f"{len(ops)} operations and {len(attached)} attached documents; Cosmos DB takes at most 100",
            )
        first = ops[0]
        extra: list[Any] = []
        for item in attached:
            if item.table.name != first.table.name or item.pk != first.key.pk:
                raise Unsupported(
                    self.name,
                    Capability.TRANSACTIONS_ACROSS_PARTITIONS.value,
                    item.table.name,
                    "attached documents live in the partition the transaction writes",
                )
            body = {"id": attached_id(item.name), "pk": item.pk, "on": item.name, "ob": item.doc}
            extra.append(("create", (body,)))
        self._commit(ops, extra)

    def list_attached(
        self, table: TableSpec, *, pk: KeyValue | None = None, prefix: str = ""
    ) -> list[Attached]:
        container = self._container(table)
        sql = "SELECT * FROM c WHERE IS_DEFINED(c.ob)"
        params: list[dict[str, Any]] = []
        if prefix:
            sql += " AND STARTSWITH(c.on, @prefix)"
            params.append({"name": "@prefix", "value": prefix})
        if pk is not None:
            # In the SQL too: the partition header alone narrows nothing on the local server.
            sql += " AND c.pk = @pk"
            params.append({"name": "@pk", "value": pk})
        scope: dict[str, Any] = (
            {"enable_cross_partition_query": True} if pk is None else {"partition_key": pk}
        )

        def run() -> list[dict[str, Any]]:
            return list(container.query_items(sql, parameters=params, **scope, **_bound()))

        items = self._call(table.name, None, run)
        found = [Attached(table, item["pk"], str(item["on"]), dict(item["ob"])) for item in items]
        return sorted(found, key=lambda a: a.name)

    def delete_attached(self, item: Attached) -> None:
        container = self._container(item.table)
        self._delete_id(container, item.table.name, attached_id(item.name), item.pk)

    def _batch_ops(self, op: TransactOp, blind: bool = False) -> list[Any]:
        """The batch operations of one portafn op. ``blind``: an etag-less delete of an item found
        missing, sent as upsert-then-delete so it succeeds whatever the item's state."""
        doc_id = item_id(op.key)
        cond = {"if_match_etag": _wire_etag(op.etag)} if op.etag is not None else {}
        if isinstance(op, Put):
            if op.if_absent:
                return [("create", (self._item(op.table, op.key, op.doc, modified=False),))]
            body = self._item(op.table, op.key, op.doc, modified=True)
            if op.etag is not None:
                return [("replace", (doc_id, body), cond)]
            return [("upsert", (body,))]
        placeholder = {"id": doc_id, "pk": op.key.pk, "doc": None, "m": False}
        if isinstance(op, Delete):
            if blind:
                return [("upsert", (placeholder,)), ("delete", (doc_id,))]
            return [("delete", (doc_id,), cond)]
        if op.exists:
            return [("read", (doc_id,), cond)]
        # "Must not exist": create a placeholder and delete it in the same batch; the create fails
        # with 409 if the item exists, and on success nothing is left behind.
        return [("create", (placeholder,)), ("delete", (doc_id,))]

    def _batch_error(
        self, ops: Sequence[TransactOp], exc: Any, blind: frozenset[int] = frozenset()
    ) -> TransactionConflict:
        responses = list(getattr(exc, "operation_responses", None) or [])
        # Map each batch operation back to the portafn op it came from.
        owners: list[int] = []
        for index, op in enumerate(ops):
            owners.extend([index] * len(self._batch_ops(op, index in blind)))
        reasons: list[StoreError | None] = [None] * len(ops)
        for position, response in enumerate(responses):
            status = int(response.get("statusCode", 0)) if isinstance(response, dict) else 0
            if status < 400 or status == 424 or position >= len(owners):
                continue
            op = ops[owners[position]]
            reasons[owners[position]] = _status_error(self.name, op, status)
        failed = next((r for r in reasons if r is not None), None)
        return TransactionConflict(
            self.name,
            failed.table if failed else ops[0].table.name,
            failed.key if failed else None,
            f"{type(failed).__name__}: {failed.summary}" if failed else "the batch failed",
            reasons,
        )

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        """One parameterised query per partition (``ARRAY_CONTAINS`` over the ids) instead of a
        read per key."""
        container = self._container(table)
        found: list[Record] = []
        for pk, group in _by_partition(keys).items():
            ids = [item_id(k) for k in group]
            sql = "SELECT * FROM c WHERE c.pk = @pk AND ARRAY_CONTAINS(@ids, c.id)"
            params: list[dict[str, Any]] = [{"name": "@pk", "value": pk}, {"name": "@ids", "value": ids}]

            def run(sql: str = sql, params: list[dict[str, Any]] = params, pk: KeyValue = pk) -> list[Any]:
                return list(container.query_items(sql, parameters=params, partition_key=pk, **_bound()))

            found.extend(self._record(table, item) for item in self._call(table.name, None, run))
        return found, []

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        """Unconditional writes, one transactional batch per partition where possible.

        Puts go as ``create`` (so the change feed sees inserts) and deletes as ``delete``: one
        request per partition for fresh keys. A batch that fails on an item's state (a key that
        exists, a delete of a missing item) applied nothing, so its writes are then made one by
        one, which handles both. Atomicity is not promised (nor needed) here.
        """
        if len(ops) > self.capabilities.batch_write_size:
            raise TooLarge(self.name, ops[0].table.name, None, f"{len(ops)} writes in one batch")
        groups: dict[tuple[str, KeyValue], list[Write]] = {}
        for op in ops:
            if isinstance(op, Put):
                _check_size(self.name, op)
            groups.setdefault((op.table.name, op.key.pk), []).append(op)
        for group in groups.values():
            if len(group) == 1:
                self.write(group[0])
                continue
            try:
                self._execute_batch(group, [self._blind_op(op) for op in group])
            except (TransactionConflict, TooLarge):
                for op in group:
                    self.write(op)
        return []

    def _blind_op(self, op: Write) -> Any:
        if isinstance(op, Delete):
            return ("delete", (item_id(op.key),))
        return ("create", (self._item(op.table, op.key, op.doc, modified=False),))

    def _execute_batch(
        self, ops: Sequence[TransactOp], batch: list[Any], blind: frozenset[int] = frozenset()
    ) -> None:
        """One transactional batch; a failed operation becomes ``TransactionConflict``."""
        from azure.cosmos import exceptions

        first = ops[0]
        container = self._container(first.table)

        def run() -> None:
            try:
                container.execute_item_batch(batch_operations=batch, partition_key=first.key.pk, **_bound())
            except exceptions.CosmosBatchOperationError as exc:
                raise self._batch_error(ops, exc, blind) from None

        self._call(first.table.name, None, run)

    def read_changes(
        self, table: TableSpec, cursor: str | None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        """The change feed (latest version mode) after ``cursor``.

        Each record's ``sequence`` is a cursor just after it (what a reader that handles one
        record at a time resumes from): the feed's continuation at the start of its page plus the
        record's ``(_lsn, id)``. Resuming re-reads that page and skips what was handed out, in
        ``(_lsn, id)`` order (items a transactional batch wrote share one ``_lsn``).
        """
        container = self._container(table)
        token, after = _decode_change_cursor(cursor)
        out: list[ChangeRecord] = []
        for _ in range(_MAX_FEED_PAGES):
            items, next_token = self._call(
                table.name, None, partial(_feed_page, container, token, max(limit, 1))
            )
            items.sort(key=_feed_position)
            fresh = [i for i in items if after is None or _feed_position(i) > after]
            taken = fresh[: limit - len(out)]
            for item in taken:
                position = _feed_position(item)
                if item.get("doc") is not None:  # not a transaction's existence-check placeholder
                    out.append(self._change(table, item, _record_cursor(token, position)))
                elif isinstance(item.get("ob"), dict):
                    out.append(self._attached_change(table, item, _record_cursor(token, position)))
                after = position
            if len(taken) < len(fresh) or not items or not _is_feed_token(next_token) or next_token == token:
                break  # the limit is reached inside this page, or the feed is caught up
            token, after = next_token, None
        return out, _encode_change_cursor(token, after)

    def _change(self, table: TableSpec, item: dict[str, Any], sequence: str) -> ChangeRecord:
        record = self._record(table, item)
        ts = item.get("_ts")
        return ChangeRecord(
            table=table.name,
            kind="modify" if item.get("m") else "insert",
            key=record.key,
            old=None,
            new=record.doc,
            sequence=sequence,
            time=datetime.fromtimestamp(ts, UTC) if isinstance(ts, int | float) else None,
            extra={"etag": record.etag},
        )

    def _attached_change(self, table: TableSpec, item: dict[str, Any], sequence: str) -> ChangeRecord:
        ts = item.get("_ts")
        return ChangeRecord(
            table=table.name,
            kind="insert",  # attached documents are created once and then deleted
            key=Key(item["pk"], str(item["on"])),
            old=None,
            new=dict(item["ob"]),
            sequence=sequence,
            time=datetime.fromtimestamp(ts, UTC) if isinstance(ts, int | float) else None,
            extra={"attached": True},
        )

    def clear(self, table: TableSpec) -> None:
        """Delete every item: a transactional batch of up to 100 deletes per partition."""
        container = self._container(table)

        def listing() -> list[dict[str, Any]]:
            return list(
                container.query_items(
                    "SELECT c.id, c.pk FROM c", enable_cross_partition_query=True, **_bound()
                )
            )

        by_pk: dict[KeyValue, list[str]] = {}
        for item in self._call(table.name, None, listing):
            by_pk.setdefault(item["pk"], []).append(item["id"])
        for pk, ids in by_pk.items():
            for start in range(0, len(ids), MAX_TRANSACTION_ITEMS):
                chunk = ids[start : start + MAX_TRANSACTION_ITEMS]
                deletes: list[Any] = [("delete", (i,)) for i in chunk]

                def run(deletes: list[Any] = deletes, pk: KeyValue = pk) -> None:
                    container.execute_item_batch(batch_operations=deletes, partition_key=pk, **_bound())

                try:
                    self._call(table.name, None, run)
                except StoreError:
                    # Some were deleted meanwhile (the batch then applied nothing): one by one.
                    for doc_id in chunk:
                        self._delete_id(container, table.name, doc_id, pk)

    def _delete_id(self, container: ContainerProxy, table: str, doc_id: str, pk: KeyValue) -> None:
        with contextlib.suppress(NotFound):
            self._call(table, None, lambda: container.delete_item(doc_id, partition_key=pk, **_bound()))

    def close(self) -> None:
        dropped = self._conn.reset()
        self._containers.clear()
        if dropped is not None:
            dropped[0].close()


def _bound() -> dict[str, Any]:
    """Per-request limits from the call's deadline (``portafn.store.deadline``): ``timeout`` is the
    SDK's absolute bound across its own retries and waits, the other two bound one socket, so a
    stalled endpoint answers ``CosmosClientTimeoutError`` or a read timeout when the time is up."""
    left = remaining()
    return {"timeout": left, "read_timeout": left, "connection_timeout": left}


def _no_sdk_retries() -> dict[str, Any]:
    """Client settings that leave retrying to portafn (``retry_transient``), the one layer that
    owns it: no throttling retries (a 429 comes back as ``Throttled`` with the server's hint) and
    no connection retries. The SDK's remaining retries (region failover, session reads) stay
    within ``_bound()``'s absolute timeout."""
    from azure.cosmos.documents import ConnectionPolicy

    policy = ConnectionPolicy()
    policy.RetryOptions = type(policy.RetryOptions)(max_retry_attempt_count=0)
    return {"connection_policy": policy, "retry_connect": 0, "retry_read": 0, "retry_status": 0}


def _missing_deletes(ops: Sequence[TransactOp], reasons: Sequence[StoreError | None]) -> frozenset[int]:
    """The etag-less deletes that failed as missing, if they are the batch's only failures."""
    failed = {i for i, r in enumerate(reasons) if r is not None}
    ok = all(
        isinstance(reasons[i], NotFound) and isinstance(ops[i], Delete) and ops[i].etag is None
        for i in failed
    )
    return frozenset(failed) if ok else frozenset()


def _kept(ops: Sequence[TransactOp], blind: frozenset[int], extra: int) -> list[int]:
    """The indexes of ``ops`` to send again; a blind delete kept is sent as upsert-then-delete.

    A pair adds one batch operation, and a transaction of 100 operations with many deletes of
    missing items would pass Cosmos DB's 100-operation limit if every one became a pair. The
    first blind deletes (in order) that fit are sent as pairs; the rest, found missing, are left
    out, since deleting a missing item changes nothing. (An item created between the two attempts
    then survives a left-out delete: the one race this gives up to stay within the limit.) With
    attached documents (``extra``) at least one operation is kept, as it names their partition.
    """
    room = MAX_TRANSACTION_ITEMS - extra
    room -= sum(1 + _extra_ops(op) for i, op in enumerate(ops) if i not in blind)
    pairs = max(room // 2, 1 if extra and len(blind) == len(ops) else 0)
    chosen = set(sorted(blind)[:pairs])
    return [i for i in range(len(ops)) if i not in blind or i in chosen]


def _extra_ops(op: TransactOp) -> int:
    """Batch operations beyond one that an op takes (an absence check is create-then-delete)."""
    return 1 if isinstance(op, Check) and not op.exists else 0


def _wire_etag(etag: str) -> str:
    """The etag to send as ``If-Match``: the caller's if it could be one Cosmos issued, else one
    that never matches. An empty etag would make azure-core drop the condition (or raise), and a
    huge one is refused as a too-large header (431); both must simply fail the condition."""
    if 0 < len(etag) <= MAX_ETAG_CHARS and etag.isascii() and etag.isprintable():
        return etag
    return NEVER_ETAG


def _by_partition(keys: Sequence[Key]) -> dict[KeyValue, list[Key]]:
    groups: dict[KeyValue, list[Key]] = {}
    for key in keys:
        groups.setdefault(key.pk, []).append(key)
    return groups


_MAX_FEED_PAGES = 50


def _feed_page(container: Any, token: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the change feed from ``token`` (None: the beginning) and the next token."""
    if token:
        feed = container.query_items_change_feed(continuation=token, max_item_count=size, **_bound())
    else:
        feed = container.query_items_change_feed(start_time="Beginning", max_item_count=size, **_bound())
    pages = feed.by_page()
    items = [dict(i) for i in next(pages, [])]
    return items, getattr(pages, "continuation_token", None)


def _feed_position(item: dict[str, Any]) -> tuple[int, str]:
    lsn = item.get("_lsn")
    return (int(lsn) if isinstance(lsn, int | str) and str(lsn).isdigit() else 0, str(item.get("id", "")))


def _encode_change_cursor(token: str | None, after: tuple[int, str] | None) -> str | None:
    """A compact, key-safe cursor: the page's feed token and the last position handed out."""
    if token is None and after is None:
        return None
    return _record_cursor(token, after)


def _record_cursor(token: str | None, after: tuple[int, str] | None) -> str:
    raw = json.dumps([token, list(after) if after else None], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def _decode_change_cursor(cursor: str | None) -> tuple[str | None, tuple[int, str] | None]:
    if not cursor:
        return None, None
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        token, after = json.loads(raw)
    except (ValueError, TypeError, zlib.error):
        raise InvalidCursor("cosmos", None, detail="not a change cursor this store made") from None
    if not (token is None or isinstance(token, str)):
        raise InvalidCursor("cosmos", None, detail="not a change cursor this store made")
    if after is None:
        return token, None
    if not (isinstance(after, list) and len(after) == 2 and isinstance(after[0], int)):
        raise InvalidCursor("cosmos", None, detail="not a change cursor this store made")
    return token, (after[0], str(after[1]))


def _is_feed_token(token: str | None) -> bool:
    """Whether a change feed continuation is the SDK's composite token (base64 JSON).

    After an empty page some SDK versions report the server's bare etag instead, which they cannot
    read back; the previous cursor is kept then.
    """
    if not token:
        return False
    try:
        json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError):
        return False
    return True


def _default_credential() -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise StoreUnavailable(
            "cosmos", None, None, f"set {KEY_ENV} to the account key, or install azure-identity for Entra ID"
        ) from None
    return DefaultAzureCredential()


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "headers", None) or {}
    value = headers.get("x-ms-retry-after-ms") if hasattr(headers, "get") else None
    try:
        return float(value) / 1000.0 if value is not None else None
    except (TypeError, ValueError):
        return None


def _ttl_seconds(table: TableSpec, doc: dict[str, Any]) -> int | None:
    """Cosmos's ``ttl`` (seconds after the write) for a document's absolute expiry time."""
    if table.ttl_field is None:
        return None
    value = doc.get(table.ttl_field)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if not math.isfinite(value):
        return None  # tables refuse these; a direct caller's item simply does not expire
    # Cosmos wants a positive whole number of seconds, at most 2**31 - 1 ("Time to Live"); an
    # expiry already past expires at once, one beyond 68 years never (tables still hide it then).
    return min(MAX_TTL_SECONDS, max(1, math.ceil(float(value) - time.time())))


def _check_size(store: str, op: Put) -> None:
    size = len(json.dumps(op.doc, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_ITEM_BYTES:
        raise TooLarge(store, op.table.name, op.key, f"item is {size} bytes; Cosmos DB takes at most 2 MB")


def _status_error(store: str, op: TransactOp, status: int) -> StoreError:
    name, key = op.table.name, op.key
    if status == 404:
        return NotFound(store, name, key)
    if status == 409:
        return AlreadyExists(store, name, key)
    if status == 412:
        return ConcurrencyConflict(store, name, key)
    if status == 413:
        return TooLarge(store, name, key)
    if status == 429:
        return Throttled(store, name, key)
    if status in TRANSIENT_STATUSES or status >= 500:
        return StoreUnavailable(store, name, key, f"batch operation answered {status}")
    return StoreError(store, name, key, f"batch operation refused ({status})")
