"""The DynamoDB store: ``dynamodb://?region=eu-west-1&endpoint=http://127.0.0.1:8000&prefix=dev-``.

Layout of an item: the document's own fields, plus

- ``_pk`` / ``_sk``: the key, encoded as sortable strings (see ``dynamodb_codec.encode_key``), so a
  table's key schema never depends on whether its keys are str or int;
- ``_etag``: a random version token, the condition of every etag-guarded write;
- ``_expires``: epoch seconds derived from the table's TTL field, DynamoDB's TTL attribute.

The physical table name is ``prefix + table name``. Streams (NEW_AND_OLD_IMAGES) are the change
source. The boto3 client is made once, on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic_core import to_json

from portafn.lazy import Lazy
from portafn.store.capabilities import Capabilities, Capability
from portafn.store.cursor import decode_cursor, decode_sort_position, encode_cursor, query_scope, scan_scope
from portafn.store.deadline import configured_timeout, remaining
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
)
from portafn.store.port import (
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
from portafn_aws.dynamodb_keys import (
    decode_key,
    encode_key,
    item_to_dynamo,
    item_to_python,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

R = TypeVar("R")

PK = "_pk"
SK = "_sk"
ETAG = "_etag"
EXPIRES = "_expires"
INTERNAL = frozenset({PK, SK, ETAG, EXPIRES})

# The function's credentials or policy refuse the call (a deployment mistake, not retried); any
# 403 too, which is how IAM's own refusal arrives when the service forwards it unparsed.
DENIED_CODES = frozenset({"AccessDeniedException", "UnrecognizedClientException"})
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
UNAVAILABLE_CODES = frozenset(
    {"InternalServerError", "ServiceUnavailable", "ResourceNotFoundException", "UnrecognizedClientException"}
)
MAX_ITEM_BYTES = 400 * 1024
CONNECT_TIMEOUT_S = 5.0
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
TTL_LOCAL_GAP = "DynamoDB Local accepts the TTL setting but never deletes expired items"

_FULL = frozenset(
    {
        Capability.CONDITIONAL_WRITES,
        Capability.TRANSACTIONS,
        Capability.TRANSACTIONS_ACROSS_PARTITIONS,
        Capability.BATCH,
        Capability.TTL,
        Capability.CHANGE_SOURCE,
        Capability.CHANGE_SOURCE_EVERY_VERSION,
        Capability.QUERY_EQ,
        Capability.QUERY_BEGINS_WITH,
        Capability.QUERY_BETWEEN,
        Capability.QUERY_RANGE,
        Capability.QUERY_DESCENDING,
        Capability.SCAN,
    }
)


def physical_name(prefix: str, table: str) -> str:
    """The DynamoDB table name for a portafn table: the URL's prefix, then the table's name."""
    return prefix + table


def prefix_from_url(url: str | None) -> str:
    """The table prefix a ``dynamodb://`` URL sets ("" when none, or for another scheme)."""
    if not url or urlsplit(url).scheme != "dynamodb":
        return ""
    return parse_qs(urlsplit(url).query).get("prefix", [""])[0]


def _botocore_client(service: str, **kwargs: Any) -> Any:
    """A low-level client made by botocore alone, as ``boto3.session.Session().client`` makes it
    (a fresh session each, so credentials and region resolve the same way), without importing
    boto3: its resources, docs, s3transfer and multiprocessing cost a cold start tens of modules
    that a DynamoDB client never uses."""
    from botocore.session import Session

    return Session().create_client(service, **kwargs)


class DynamoDBStore(Store):
    """A portafn store on Amazon DynamoDB (or DynamoDB Local, given a loopback ``endpoint``)."""

    scheme: ClassVar[str] = "dynamodb"
    # The service's declaration, readable without a connection (the capability matrix and
    # `portafn check` read the class); an instance on DynamoDB Local adds its local gaps.
    capabilities = Capabilities(
        supported=_FULL,
        max_transaction_items=100,
        batch_write_size=25,
        batch_get_size=100,
        max_item_bytes=MAX_ITEM_BYTES,
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        if parts.scheme != "dynamodb":
            raise ValueError(f"not a dynamodb:// URL: {url!r}")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.region: str | None = params.get("region") or parts.netloc or None
        self.endpoint: str | None = params.get("endpoint") or None
        self.prefix = params.get("prefix", "")
        self.is_local = bool(self.endpoint) and (urlsplit(self.endpoint).hostname or "") in _LOCAL_HOSTS
        if self.is_local:
            self.capabilities = dataclasses.replace(
                type(self).capabilities, local_gaps={Capability.TTL: TTL_LOCAL_GAP}
            )
        self._clients: dict[int, Lazy[DynamoDBClient]] = {}  # by read timeout in seconds
        self._streams: Lazy[Any] = Lazy(self._make_streams)  # no stubs
        self._stream_arns: dict[str, str] = {}

    # -- clients ---------------------------------------------------------------------------

    def _config(self, timeout: float) -> Any:
        from botocore.config import Config

        # One layer retries: the table's (bounded by the call's deadline), so botocore makes one
        # attempt, and a stalled endpoint holds a request no longer than the time the call has.
        # botocore checks every request against the service model before sending it; the store
        # builds each request itself from checked keys and typed attribute values, and DynamoDB
        # validates it again, so that walk (several times the serialisation's cost on a batch)
        # is skipped: a request the service refuses still raises its ValidationException.
        return Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=min(CONNECT_TIMEOUT_S, timeout),
            read_timeout=timeout,
            tcp_keepalive=True,
            parameter_validation=False,
        )

    def _make_client(self, timeout: int) -> DynamoDBClient:
        client: DynamoDBClient = _botocore_client(
            "dynamodb", region_name=self.region, endpoint_url=self.endpoint, config=self._config(timeout)
        )
        return client

    def _make_streams(self) -> Any:
        return _botocore_client(
            "dynamodbstreams",
            region_name=self.region,
            endpoint_url=self.endpoint,
            config=self._config(configured_timeout()),
        )

    @property
    def client(self) -> DynamoDBClient:
        """A boto3 DynamoDB client whose read timeout fits the time the current call has left.

        botocore fixes timeouts per client, so clients are kept per whole second of timeout, made
        on first use and shared by every thread; in practice one (the configured timeout), and
        short ones only near the end of an invocation.
        """
        seconds = max(1, math.ceil(remaining()))
        lazy = self._clients.get(seconds)
        if lazy is None:
            lazy = self._clients.setdefault(seconds, Lazy(partial(self._make_client, seconds)))
        return lazy.get()

    @property
    def streams(self) -> Any:
        """The boto3 DynamoDB Streams client, made on first use."""
        return self._streams.get()

    def close(self) -> None:
        """Drop the clients (their connection pools close with them)."""
        for lazy in [*self._clients.values(), self._streams]:
            dropped = lazy.reset()
            if dropped is not None:
                dropped.close()

    # -- errors ----------------------------------------------------------------------------

    def _call(self, table: str | None, key: Any, fn: Callable[[], R]) -> R:
        """Run one SDK call, mapping botocore's exceptions onto the store taxonomy."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn()
        except ClientError as exc:
            raise self._map_client_error(exc, table, key) from None
        except BotoCoreError as exc:
            # Connection refused or reset, timeouts, DNS: the store cannot be reached.
            raise StoreUnavailable(self.name, table, key, type(exc).__name__) from None

    def _map_client_error(self, exc: Any, table: str | None, key: Any) -> StoreError:
        """The store error for a botocore ``ClientError``, chosen by its ``Error.Code`` (and the
        HTTP status for codes not listed), never by its message."""
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", ""))
        if code in THROTTLE_CODES:
            return Throttled(self.name, table, key, code)
        if code in UNAVAILABLE_CODES:
            return StoreUnavailable(self.name, table, key, f"{code}: {message}"[:300])
        if code == "ItemCollectionSizeLimitExceededException":
            return TooLarge(self.name, table, key, code)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in DENIED_CODES or status == 403:
            return AccessDenied(self.name, table, key, f"{code}: {message}"[:300])
        if isinstance(status, int) and status >= 500:
            return StoreUnavailable(self.name, table, key, code or str(status))
        return _CodedError(self.name, table, key, f"{code}: {message}"[:300], code=code)

    # -- tables ----------------------------------------------------------------------------

    def physical(self, table: TableSpec) -> str:
        """The DynamoDB table name of ``table``."""
        return physical_name(self.prefix, table.name)

    def ensure_table(self, table: TableSpec) -> None:
        """Create the table with its stream, and turn TTL on for ``_expires`` if it has a TTL field."""

        name = self.physical(table)
        schema: list[Any] = [{"AttributeName": PK, "KeyType": "HASH"}]
        attrs: list[Any] = [{"AttributeName": PK, "AttributeType": "S"}]
        if table.sort_key is not None:
            schema.append({"AttributeName": SK, "KeyType": "RANGE"})
            attrs.append({"AttributeName": SK, "AttributeType": "S"})
        try:
            self._call(
                table.name,
                None,
                lambda: self.client.create_table(
                    TableName=name,
                    KeySchema=schema,
                    AttributeDefinitions=attrs,
                    BillingMode="PAY_PER_REQUEST",
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                ),
            )
        except _CodedError as exc:
            if exc.code != "ResourceInUseException":  # the table exists already: idempotent
                raise
        self._call(
            table.name,
            None,
            lambda: self.client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            ),
        )
        if table.ttl_field is not None:
            self._ensure_ttl(table, name)

    def _ensure_ttl(self, table: TableSpec, name: str) -> None:
        """Turn TTL on for ``_expires`` unless it is on already (DynamoDB refuses a second enable
        with a ValidationException whose only distinction is its message, so ask first)."""
        out = self._call(table.name, None, lambda: self.client.describe_time_to_live(TableName=name))
        status = out.get("TimeToLiveDescription", {}).get("TimeToLiveStatus", "DISABLED")
        if status in ("ENABLED", "ENABLING"):
            return
        self._call(
            table.name,
            None,
            lambda: self.client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES}
            ),
        )

    def clear(self, table: TableSpec) -> None:
        """Delete every item (scan the keys, then batch deletes)."""
        name = self.physical(table)
        projection = "#pk, #sk" if table.sort_key is not None else "#pk"
        names = {"#pk": PK, "#sk": SK} if table.sort_key is not None else {"#pk": PK}
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": name,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": names,
                "ConsistentRead": True,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self._call(table.name, None, lambda kw=kwargs: self.client.scan(**kw))  # type: ignore[misc]
            keys = [dict(item) for item in page.get("Items", [])]
            for i in range(0, len(keys), 25):
                requests: list[Any] = [{"DeleteRequest": {"Key": k}} for k in keys[i : i + 25]]
                while requests:
                    out = self._call(
                        table.name,
                        None,
                        lambda r=requests: self.client.batch_write_item(RequestItems={name: r}),  # type: ignore[misc]
                    )
                    requests = list(out.get("UnprocessedItems", {}).get(name, []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    # -- keys and items --------------------------------------------------------------------

    def _key_item(self, table: TableSpec, key: Key) -> dict[str, Any]:
        item: dict[str, Any] = {PK: {"S": encode_key(key.pk)}}
        if table.sort_key is not None:
            if key.sk is None:
                raise ValueError(f"table {table.name!r} has a sort key; the key needs one")
            item[SK] = {"S": encode_key(key.sk)}
        return item

    def _item_key(self, table: TableSpec, item: Mapping[str, Any]) -> Key:
        pk = decode_key(item[PK]["S"])
        sk = decode_key(item[SK]["S"]) if table.sort_key is not None and SK in item else None
        return Key(pk, sk)

    def _to_item(self, table: TableSpec, key: Key, doc: Mapping[str, Any], etag: str) -> dict[str, Any]:
        body = {k: v for k, v in doc.items() if k not in INTERNAL}
        item = item_to_dynamo(body)
        item.update(self._key_item(table, key))
        item[ETAG] = {"S": etag}
        if table.ttl_field is not None:
            expires = _epoch_seconds(doc.get(table.ttl_field))
            if expires is not None:
                item[EXPIRES] = {"N": str(expires)}
        size = 0 if _surely_fits(item) else item_size(item)
        if size > MAX_ITEM_BYTES:
            # Checked here because DynamoDB's own refusal is a ValidationException told apart
            # from others only by its message.
            raise TooLarge(
                self.name, table.name, key, f"{size} bytes as stored; DynamoDB takes {MAX_ITEM_BYTES}"
            )
        return item

    def _to_record(self, table: TableSpec, item: Mapping[str, Any]) -> Record:
        return Record(self._item_key(table, item), strip_internal(item_to_python(item)), str(item[ETAG]["S"]))

    # -- reads -----------------------------------------------------------------------------

    def get(self, table: TableSpec, key: Key) -> Record | None:
        """The item by key, read with strong consistency (so a write is seen by the next read)."""
        name = self.physical(table)
        k = self._key_item(table, key)
        out = self._call(
            table.name, key, lambda: self.client.get_item(TableName=name, Key=k, ConsistentRead=True)
        )
        item = out.get("Item")
        return self._to_record(table, item) if item else None

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
        """One page of a partition; the cursor is an opaque token over the last key returned."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        name = self.physical(table)
        names = {"#pk": PK}
        values: dict[str, Any] = {":pk": {"S": encode_key(pk)}}
        expr = "#pk = :pk"
        if condition is not None:
            if table.sort_key is None:
                raise ValueError(f"table {table.name!r} has no sort key to query on")
            names["#sk"] = SK
            expr += " AND " + _sort_expression(condition, values)
        scope = query_scope(table.name, pk, condition, descending)
        start = self._start_key(table, pk, cursor, scope) if cursor is not None else None
        records: list[Record] = []
        more = False
        # Ask for one item beyond the page: DynamoDB hands back a LastEvaluatedKey whenever a page
        # is full even if nothing follows, and the port promises cursor None at the end.
        while True:
            kwargs: dict[str, Any] = {
                "TableName": name,
                "KeyConditionExpression": expr,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ScanIndexForward": not descending,
                "Limit": limit + 1 - len(records),
                "ConsistentRead": True,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            out = self._call(table.name, pk, lambda kw=kwargs: self.client.query(**kw))  # type: ignore[misc]
            for item in out.get("Items", []):
                if len(records) == limit:
                    more = True
                    break
                records.append(self._to_record(table, item))
            start = out.get("LastEvaluatedKey")
            if more or not start:
                break
        next_cursor = None
        if more and records:
            last = records[-1].key.sk
            next_cursor = encode_cursor(last if last is not None else "", scope=scope)
        return Page(records, next_cursor)

    def scan(self, table: TableSpec, *, limit: int, cursor: str | None) -> Page:
        """Scan pages in DynamoDB's own order; the cursor holds the last key returned (the
        ``ExclusiveStartKey`` to resume from). Strongly consistent, one item beyond the page."""
        scope = scan_scope(table.name)
        start = self._scan_start(table, cursor, scope) if cursor is not None else None
        records: list[Record] = []
        last: dict[str, Any] | None = None
        more = False
        while True:
            kwargs: dict[str, Any] = {"TableName": self.physical(table), "Limit": limit + 1 - len(records)}
            kwargs["ConsistentRead"] = True
            if start:
                kwargs["ExclusiveStartKey"] = start
            out = self._call(table.name, None, lambda kw=kwargs: self.client.scan(**kw))  # type: ignore[misc]
            for item in out.get("Items", []):
                if len(records) == limit:
                    more = True
                    break
                records.append(self._to_record(table, item))
                last = item
            start = out.get("LastEvaluatedKey")
            if more or not start:
                break
        if not (more and last is not None):
            return Page(records, None)
        position = [last[PK]["S"], last[SK]["S"] if table.sort_key is not None else None]
        return Page(records, encode_cursor(position, scope=scope))

    def _scan_start(self, table: TableSpec, cursor: str, scope: tuple[Any, ...]) -> dict[str, Any]:
        position = decode_cursor(cursor, scope=scope, store=self.name, table=table.name)
        ok = isinstance(position, list) and len(position) == 2 and isinstance(position[0], str)
        if not ok or (table.sort_key is not None and not isinstance(position[1], str)):
            raise InvalidCursor(self.name, table.name, detail="not a cursor this store made")
        start: dict[str, Any] = {PK: {"S": position[0]}}
        if table.sort_key is not None:
            start[SK] = {"S": position[1]}
        return start

    def _start_key(
        self, table: TableSpec, pk: KeyValue, cursor: str, scope: tuple[Any, ...]
    ) -> dict[str, Any]:
        """The ``ExclusiveStartKey`` a query cursor resumes after (``InvalidCursor`` if not ours)."""
        after = decode_sort_position(cursor, scope=scope, store=self.name, table=table.name)
        start: dict[str, Any] = {PK: {"S": encode_key(pk)}}
        if table.sort_key is not None:
            try:
                start[SK] = {"S": encode_key(after)}
            except ValueError:
                raise InvalidCursor(self.name, table.name, detail="not a cursor this store made") from None
        return start

    def batch_get(self, table: TableSpec, keys: Sequence[Key]) -> tuple[list[Record], list[Key]]:
        """BatchGetItem (up to 100 keys); keys DynamoDB left unprocessed are handed back."""
        if not keys:
            return [], []
        if len(keys) > self.capabilities.batch_get_size:
            raise TooLarge(self.name, table.name, None, f"{len(keys)} keys; a batch read takes at most 100")
        name = self.physical(table)
        unique: dict[str, dict[str, Any]] = {}
        for k in keys:
            item = self._key_item(table, k)
            unique[json.dumps(item, sort_keys=True)] = item  # DynamoDB rejects duplicate keys
        request: Any = {name: {"Keys": list(unique.values()), "ConsistentRead": True}}
        out: Any = self._call(table.name, None, lambda: self.client.batch_get_item(RequestItems=request))
        found = [self._to_record(table, item) for item in out.get("Responses", {}).get(name, [])]
        left = [
            self._item_key(table, k) for k in out.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
        ]
        return found, left

    # -- writes ----------------------------------------------------------------------------

    def write(self, op: Write) -> str | None:
        """One put or delete, conditional on absence or an etag when asked."""
        table = op.table
        name = self.physical(table)
        key_item = self._key_item(table, op.key)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        condition = _condition(op, names, values)
        kwargs: dict[str, Any] = {"TableName": name}
        if condition:
            kwargs["ConditionExpression"] = condition
            kwargs["ExpressionAttributeNames"] = names
            if values:
                kwargs["ExpressionAttributeValues"] = values
        if isinstance(op, Put):
            etag = uuid.uuid4().hex
            item = self._to_item(table, op.key, op.doc, etag)
            self._conditional(op, lambda: self.client.put_item(Item=item, **kwargs))
            return etag
        self._conditional(op, lambda: self.client.delete_item(Key=key_item, **kwargs))
        return None

    def _conditional(self, op: Write, fn: Callable[[], Any]) -> None:
        try:
            self._call(op.table.name, op.key, fn)
        except _CodedError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise
            raise self._condition_error(op) from None

    def _condition_error(self, op: Put | Delete | Check) -> StoreError:
        """Which error a failed condition means: reread the item to tell them apart."""
        key = op.key.as_dict(op.table)
        if (isinstance(op, Put) and op.if_absent) or (isinstance(op, Check) and not op.exists):
            return AlreadyExists(self.name, op.table.name, key)
        if self.get(op.table, op.key) is None:
            return NotFound(self.name, op.table.name, key)
        return ConcurrencyConflict(self.name, op.table.name, key)

    def batch_write(self, ops: Sequence[Write]) -> list[Write]:
        """BatchWriteItem (up to 25 unconditional writes); unprocessed ones are handed back."""
        if not ops:
            return []
        if len(ops) > self.capabilities.batch_write_size:
            raise TooLarge(self.name, None, None, f"{len(ops)} writes; a batch write takes at most 25")
        by_request: dict[tuple[str, _KeyIdent], Write] = {}
        requests: dict[str, list[Any]] = {}
        for op in ops:
            if (isinstance(op, Put) and (op.if_absent or op.etag)) or (isinstance(op, Delete) and op.etag):
                raise ValueError("batch writes are unconditional; use transact() for conditions")
            name = self.physical(op.table)
            key_item = self._key_item(op.table, op.key)
            ident = (name, _key_ident(key_item))
            if ident in by_request:
                # DynamoDB rejects two writes to one key in one batch; the later one wins, as
                # it would have if they had been sent one after another.
                requests[name] = [r for r in requests[name] if _request_ident(r) != ident[1]]
            by_request[ident] = op
            if isinstance(op, Put):
                req: Any = {"PutRequest": {"Item": self._to_item(op.table, op.key, op.doc, uuid.uuid4().hex)}}
            else:
                req = {"DeleteRequest": {"Key": key_item}}
            requests.setdefault(name, []).append(req)
        out = self._call(None, None, lambda: self.client.batch_write_item(RequestItems=requests))
        left: list[Write] = []
        for name, reqs in out.get("UnprocessedItems", {}).items():
            for r in reqs:
                left.append(by_request[(name, _request_ident(r))])
        return left

    def transact(self, ops: Sequence[TransactOp]) -> None:
        """TransactWriteItems (up to 100 ops); a cancellation names each op's reason."""
        if not ops:
            return
        if len(ops) > self.capabilities.max_transaction_items:
            raise TooLarge(self.name, None, None, f"{len(ops)} operations; a transaction takes at most 100")
        items: list[Any] = []
        for op in ops:
            name = self.physical(op.table)
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            condition = _condition(op, names, values)
            extra: dict[str, Any] = {}
            if condition:
                extra = {"ConditionExpression": condition, "ExpressionAttributeNames": names}
                if values:
                    extra["ExpressionAttributeValues"] = values
            if isinstance(op, Put):
                item = self._to_item(op.table, op.key, op.doc, uuid.uuid4().hex)
                items.append({"Put": {"TableName": name, "Item": item, **extra}})
            elif isinstance(op, Delete):
                items.append(
                    {"Delete": {"TableName": name, "Key": self._key_item(op.table, op.key), **extra}}
                )
            else:
                items.append(
                    {"ConditionCheck": {"TableName": name, "Key": self._key_item(op.table, op.key), **extra}}
                )
        from botocore.exceptions import ClientError

        try:
            self._call(None, None, lambda: _raw(self.client.transact_write_items, TransactItems=items))
        except _Raw as raw:
            exc = raw.exc
            assert isinstance(exc, ClientError)
            code = exc.response.get("Error", {}).get("Code", "")
            if code != "TransactionCanceledException":
                raise self._map_client_error(exc, None, None) from None
            reasons_raw: list[Any] = list(exc.response.get("CancellationReasons") or [])
            reasons = [self._reason(op, r) for op, r in zip(ops, reasons_raw, strict=False)]
            reasons += [None] * (len(ops) - len(reasons))
            first = next((r for r in reasons if r is not None), None)
            raise TransactionConflict(
                self.name,
                first.table if first else None,
                first.key if first else None,
                "; ".join(f"op {i}: {r.summary}" for i, r in enumerate(reasons) if r is not None) or None,
                reasons=reasons,
            ) from None

    def _reason(self, op: TransactOp, reason: Mapping[str, Any]) -> StoreError | None:
        code = str(reason.get("Code", "None"))
        key = op.key.as_dict(op.table)
        if code in ("None", ""):
            return None
        if code == "ConditionalCheckFailed":
            return self._condition_error(op)
        if code == "TransactionConflict":
            return TransactionConflict(self.name, op.table.name, key, "another transaction touched this item")
        if code in ("ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"):
            return Throttled(self.name, op.table.name, key, code)
        if code == "ItemCollectionSizeLimitExceeded":
            return TooLarge(self.name, op.table.name, key, code)
        return StoreError(self.name, op.table.name, key, f"{code}: {reason.get('Message', '')}"[:300])

    # -- change source ---------------------------------------------------------------------

    def _stream_arn(self, table: TableSpec) -> str:
        name = self.physical(table)
        arn = self._stream_arns.get(name)
        if arn is None:
            out = self._call(table.name, None, lambda: self.client.describe_table(TableName=name))
            found = out["Table"].get("LatestStreamArn")
            if not found:
                raise StoreUnavailable(
                    self.name, table.name, None, "the table has no stream; run ensure_table"
                )
            arn = self._stream_arns[name] = found
        return arn

    def read_changes(
        self, table: TableSpec, cursor: str | None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        """Changes from the table's stream after ``cursor``, shard by shard, parents first.

        The cursor records the last sequence number read per shard, so a reader resumes exactly
        where it stopped; None starts at the oldest record the stream keeps (24 hours on AWS).
        """
        arn = self._stream_arn(table)
        state = _decode_change_cursor(cursor, arn)
        out: list[ChangeRecord] = []
        for shard in self._shards(table, arn):
            if len(out) >= limit:
                break
            shard_id = shard["ShardId"]
            after = state.get(shard_id)
            if after == "closed":
                continue
            it_kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
            if after:
                it_kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
            else:
                it_kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            iterator: str | None = self._call(
                table.name,
                None,
                lambda kw=it_kwargs: self.streams.get_shard_iterator(**kw),  # type: ignore[misc]
            ).get("ShardIterator")
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            while iterator and len(out) < limit:
                page = self._call(
                    table.name,
                    None,
                    lambda it=iterator: self.streams.get_records(ShardIterator=it, Limit=limit - len(out)),  # type: ignore[misc]
                )
                records = page.get("Records", [])
                for rec in records:
                    state[shard_id] = rec["dynamodb"]["SequenceNumber"]
                    # Each record's sequence is the cursor just after it, so a reader may resume
                    # from any record it has handled (delivery advances one record at a time).
                    out.append(self._change(table, rec, _encode_change_cursor(arn, state)))
                iterator = page.get("NextShardIterator")
                if not records:
                    # An open shard always hands back a next iterator: an empty page means we are
                    # caught up. A closed shard ends with no iterator; remember it is done.
                    if iterator is None and closed:
                        state[shard_id] = "closed"
                    break
        return out, _encode_change_cursor(arn, state)

    def _shards(self, table: TableSpec, arn: str) -> Iterator[Any]:
        shards: list[Any] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            desc = self._call(table.name, None, lambda kw=kwargs: self.streams.describe_stream(**kw))  # type: ignore[misc]
            page = desc["StreamDescription"].get("Shards", [])
            shards.extend(page)
            start = desc["StreamDescription"].get("LastEvaluatedShardId")
            if not start:
                break
        # Parents before children: records of one key move to the child shard after a split.
        ids = {s["ShardId"] for s in shards}
        done: set[str] = set()
        ordered: list[Any] = []
        pending = list(shards)
        while pending:
            progressed = False
            for s in list(pending):
                parent = s.get("ParentShardId")
                if not parent or parent not in ids or parent in done:
                    ordered.append(s)
                    done.add(s["ShardId"])
                    pending.remove(s)
                    progressed = True
            if not progressed:
                ordered.extend(pending)
                break
        return iter(ordered)

    def _change(self, table: TableSpec, rec: Mapping[str, Any], sequence: str) -> ChangeRecord:
        ddb = rec["dynamodb"]
        kind = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}[rec["eventName"]]
        old = strip_internal(item_to_python(ddb["OldImage"])) if "OldImage" in ddb else None
        new = strip_internal(item_to_python(ddb["NewImage"])) if "NewImage" in ddb else None
        when = ddb.get("ApproximateCreationDateTime")
        extra: dict[str, Any] = {"eventID": rec.get("eventID"), "SequenceNumber": ddb["SequenceNumber"]}
        identity = rec.get("userIdentity")
        if identity:
            # TTL deletions are made by the DynamoDB service principal.
            extra["userIdentity"] = identity
        return ChangeRecord(
            table=table.name,
            kind=kind,  # type: ignore[arg-type]
            key=self._item_key(table, ddb["Keys"]),
            old=old,
            new=new,
            sequence=sequence,
            time=when.astimezone(UTC) if isinstance(when, datetime) else None,
            extra=extra,
        )


# -- helpers ---------------------------------------------------------------------------------


def strip_internal(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored item's document without the store's own attributes."""
    return {k: v for k, v in doc.items() if k not in INTERNAL}


def _sort_expression(cond: SortCondition, values: dict[str, Any]) -> str:
    values[":sk"] = {"S": encode_key(cond.value)}
    op = cond.op
    if op == "eq":
        return "#sk = :sk"
    if op == "begins_with":
        if not isinstance(cond.value, str):
            raise ValueError("begins_with needs a string sort key value")
        return "begins_with(#sk, :sk)"
    if op == "between":
        if cond.high is None:
            raise ValueError("between needs a high value")
        values[":hi"] = {"S": encode_key(cond.high)}
        return "#sk BETWEEN :sk AND :hi"
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return f"#sk {symbol} :sk"


def _condition(op: TransactOp, names: dict[str, str], values: dict[str, Any]) -> str | None:
    if isinstance(op, Put) and op.if_absent:
        names["#pk"] = PK
        return "attribute_not_exists(#pk)"
    if isinstance(op, Check) and not op.exists:
        names["#pk"] = PK
        return "attribute_not_exists(#pk)"
    if op.etag is not None:
        names["#etag"] = ETAG
        values[":etag"] = {"S": op.etag}
        return "#etag = :etag"
    if isinstance(op, Check):
        names["#pk"] = PK
        return "attribute_exists(#pk)"
    return None


_KeyIdent = tuple[str | None, str | None]


def _request_ident(request: Mapping[str, Any]) -> _KeyIdent:
    if "PutRequest" in request:
        return _key_ident(request["PutRequest"]["Item"])
    return _key_ident(request["DeleteRequest"]["Key"])


def _key_ident(item: Mapping[str, Any]) -> _KeyIdent:
    """The item's key (the stored string forms of its internal key attributes), to match a
    request DynamoDB hands back unprocessed with the write it came from."""
    pk, sk = item.get(PK), item.get(SK)
    return (pk["S"] if pk else None, sk["S"] if sk else None)


def _epoch_seconds(value: Any) -> int | None:
    """A TTL field value (epoch seconds, or an ISO 8601 time as JSON carries a datetime)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # NaN and infinities have no whole seconds (tables refuse them before here).
        return int(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def _encode_change_cursor(arn: str, state: Mapping[str, str]) -> str:
    raw = json.dumps({"arn": arn, "shards": dict(state)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_change_cursor(cursor: str | None, arn: str) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        shards = {str(k): str(v) for k, v in raw["shards"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise InvalidCursor("dynamodb", None, detail="not a change cursor this store made") from None
    # A cursor from an older stream (the table was recreated) starts the new stream from its start.
    return shards if raw.get("arn") == arn else {}


def _surely_fits(item: Mapping[str, Any]) -> bool:
    """Whether the item is under DynamoDB's limit by a bound that costs one C call: an attribute
    never counts more than three times its wire JSON (a number, the worst case, counts 21 bytes
    against ``{"N":"0"}``'s 9), so an item whose JSON is under a third of the limit fits. Larger
    items, and any the bound cannot encode (binary values), are measured by ``item_size``."""
    try:
        return len(to_json(item)) * 3 <= MAX_ITEM_BYTES
    except Exception:  # bytes that are not UTF-8, for one: measure exactly instead
        return False


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it ("Item sizes and formats" in the developer guide):
    attribute names plus values; a number at most 21 bytes; 3 bytes per map or list plus 1 per
    element. Rounded up where the guide gives a range, so an item under it is never refused."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return 21
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return sum(len(str(v).encode()) for v in inner)  # string, number and binary sets


class _CodedError(StoreError):
    """A DynamoDB error with no taxonomy type of its own; ``code`` is botocore's ``Error.Code``,
    for the callers that expect one code (a failed condition, a table that exists)."""

    def __init__(self, store: str, table: str | None, key: Any, detail: str, *, code: str) -> None:
        self.code = code
        super().__init__(store, table, key, detail)


class _Raw(Exception):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def _raw(fn: Callable[..., R], **kwargs: Any) -> R:
    """Call ``fn``, passing a ClientError through ``_call`` untouched (transactions read its details)."""
    from botocore.exceptions import ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        raise _Raw(exc) from None
