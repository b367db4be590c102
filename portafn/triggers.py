"""What starts a function: one small value type per trigger kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from portafn.events import ATTACHED_CHANGE_TYPE
from portafn.routing import PathTemplate

if TYPE_CHECKING:
    from portafn.cron import Cron
    from portafn.events import Change
    from portafn.store.table import Table


@dataclass(frozen=True, slots=True)
class HttpTrigger:
    """An HTTP route: one method (or ``*``) on one path template."""

    method: str
    path: PathTemplate
    kind: Literal["http"] = "http"


@dataclass(frozen=True, slots=True)
class QueueTrigger:
    """Messages from a point-to-point queue (SQS, Storage Queue or Service Bus queue, Pub/Sub)."""

    queue: str
    kind: Literal["queue"] = "queue"


@dataclass(frozen=True, slots=True)
class TopicTrigger:
    """Messages fanned out on a topic (SNS, Service Bus topic, Pub/Sub topic)."""

    topic: str
    kind: Literal["topic"] = "topic"


@dataclass(frozen=True, slots=True)
class ScheduleTrigger:
    """A five-field cron schedule in UTC."""

    cron: Cron
    kind: Literal["schedule"] = "schedule"


@dataclass(frozen=True, slots=True)
class StorageTrigger:
    """Objects created in or deleted from a bucket."""

    bucket: str
    on: Literal["created", "deleted"]
    kind: Literal["storage"] = "storage"


@dataclass(frozen=True, slots=True)
class ChangesTrigger:
    """Changes to a portafn table, from the store's change source.

    With ``attached``, the documents attached to the table's partitions (the outbox's records on
    stores whose transactions stay in one partition) instead of its items.
    """

    table: Table[Any]
    kind: Literal["changes"] = "changes"
    attached: bool = False

    def receives(self, change: Change[Any]) -> bool:
        """Whether a change from the table's source is for this function (items or attached)."""
        return (change.type == ATTACHED_CHANGE_TYPE) == self.attached


@dataclass(frozen=True, slots=True)
class EventTrigger:
    """Any other CloudEvent, selected by its ``type``."""

    type: str
    kind: Literal["event"] = "event"


Trigger = (
    HttpTrigger
    | QueueTrigger
    | TopicTrigger
    | ScheduleTrigger
    | StorageTrigger
    | ChangesTrigger
    | EventTrigger
)
