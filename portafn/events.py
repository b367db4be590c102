"""The neutral event model: every non-HTTP trigger arrives as a CloudEvents 1.0 envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

#: The ``type`` of a ``Change`` announcing a document attached to a table's partition (an outbox
#: record on stores whose transactions stay in one partition), not an item of the table.
ATTACHED_CHANGE_TYPE = "portafn.change.attached"

ChangeKind = Literal["insert", "modify", "remove"]
StorageAction = Literal["created", "deleted"]


class Event(BaseModel, Generic[T]):
    """A CloudEvents 1.0 envelope with typed ``data``.

    ``extensions`` holds every extension attribute (``traceparent`` among them). ``raw`` is the
    provider's original payload, so whatever the translation could not carry stays reachable.
    """

    # defer_build: the schemas are built when an event is first made, so a function that serves
    # only HTTP never builds them (they cost a noticeable share of a cold start's import).
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=False, defer_build=True)

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    subject: str | None = None
    time: datetime | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: T | None = None
    extensions: dict[str, Any] = Field(default_factory=dict)
    raw: Any = Field(default=None, exclude=True, repr=False)

    @property
    def traceparent(self) -> str | None:
        """The W3C trace context carried with the event, if any."""
        value = self.extensions.get("traceparent")
        return str(value) if value is not None else None


class Message(Event[T], Generic[T]):
    """A message from a queue or topic (SQS, SNS, Storage Queue, Service Bus, Pub/Sub).

    ``body`` is the payload exactly as delivered; ``data`` is that payload validated as ``T``.
    ``delivery_attempt`` starts at 1 and grows with each redelivery where the provider says so.
    """

    body: bytes = b""
    attributes: dict[str, str] = Field(default_factory=dict)
    delivery_attempt: int = 1
    queue: str | None = None
    ordering_key: str | None = None

    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:  # type: ignore[override]  # pydantic's v1-era json() is deprecated
        """The payload parsed as JSON."""
        return json.loads(self.body)


# Subscripting a pydantic generic (``Event[None]``) builds the schema of ``Event`` itself at import,
# defer_build or not; the concrete event classes below subclass ``Event`` and narrow ``data``
# instead, which validates the same and leaves every schema to be built when first used. The type
# checker still sees the subscripted bases.
if TYPE_CHECKING:
    _NoData = Event[None]
    _ObjectData = Event["StorageObject"]
    _AnyData = Event[Any]
else:
    _NoData = _ObjectData = _AnyData = Event


class Schedule(_NoData):
    """A timer firing. ``scheduled_time`` is when it was due; ``past_due`` when it ran late."""

    data: None = None
    scheduled_time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    past_due: bool = False
    cron: str | None = None


class StorageObject(BaseModel):
    """The object a storage event is about."""

    model_config = ConfigDict(defer_build=True)

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    version: str | None = None


class StorageEvent(_ObjectData):
    """An object created in or deleted from a bucket or container (S3, Blob Storage, Cloud Storage)."""

    data: StorageObject | None = None

    action: StorageAction = "created"

    @property
    def bucket(self) -> str:
        """The bucket or container name."""
        return self._object.bucket

    @property
    def key(self) -> str:
        """The object key (URL-decoded)."""
        return self._object.key

    @property
    def _object(self) -> StorageObject:
        if self.data is None:
            raise ValueError("storage event has no object")
        return self.data


class Change(_AnyData, Generic[T]):
    """A change to one item of a table: what it was (``old``) and what it is (``new``).

    ``key`` holds the partition key and, if the table has one, the sort key. A store that does not
    report old images leaves ``old`` as None on ``modify``.
    """

    data: Any = None
    kind: ChangeKind
    table: str
    key: dict[str, Any] = Field(default_factory=dict)
    old: T | None = None
    new: T | None = None


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)
