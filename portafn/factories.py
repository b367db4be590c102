"""Neutral events made from a few facts: what tests, the CLI and the drivers deliver."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import to_json

from portafn.events import Message, Schedule, StorageEvent, StorageObject, now_utc
from portafn.triggers import ScheduleTrigger

if TYPE_CHECKING:
    from portafn.app import Function


def encode_payload(data: Any) -> bytes:
    """A message payload as bytes: bytes pass, str is UTF-8, anything else is JSON."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, BaseModel):
        return data.model_dump_json().encode()
    return to_json(data)


def make_message(
    data: Any, *, queue: str, attributes: Mapping[str, str] | None = None, delivery_attempt: int = 1
) -> Message[Any]:
    """A neutral message as a local queue would deliver it."""
    body = encode_payload(data)
    decoded: Any
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = body.decode("utf-8", errors="replace")
    return Message[Any](
        id=str(uuid.uuid4()),
        source=f"portafn://local/queues/{queue}",
        type="portafn.message",
        time=now_utc(),
        datacontenttype="application/json",
        data=decoded,
        body=body,
        attributes=dict(attributes or {}),
        delivery_attempt=delivery_attempt,
        queue=queue,
    )


def make_schedule(fn: Function) -> Schedule:
    """A neutral schedule firing for ``fn`` now."""
    trigger = fn.trigger
    cron = trigger.cron.expression if isinstance(trigger, ScheduleTrigger) else None
    return Schedule(
        id=str(uuid.uuid4()),
        source=f"portafn://local/schedules/{fn.name}",
        type="portafn.schedule",
        time=now_utc(),
        cron=cron,
    )


def make_storage_event(
    bucket: str,
    key: str,
    *,
    action: str = "created",
    size: int | None = None,
    content_type: str | None = None,
) -> StorageEvent:
    """A neutral storage event about ``bucket/key``."""
    return StorageEvent(
        id=str(uuid.uuid4()),
        source=f"portafn://local/buckets/{bucket}",
        type=f"portafn.storage.{action}",
        subject=key,
        time=now_utc(),
        data=StorageObject(bucket=bucket, key=key, size=size, content_type=content_type),
        action=action,
    )
