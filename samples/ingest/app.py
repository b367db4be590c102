"""An ingest pipeline: an uploaded file is checked, described, and announced to two consumers.

``uploads`` receives files as ``<tenant>/<yyyy-mm-dd>/<name>.csv|json``. The storage function
validates the key and size, turns the object into a ``FileReceived`` event and publishes it on
``files-received``; a catalogue function records each file, and a tally function keeps per-tenant
counts. On AWS that is S3 -> SNS; on Azure, Blob -> Service Bus topic; on GCP, Cloud Storage -> Pub/Sub.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from portafn import App, Context, Message, StorageEvent
from portafn.reliability import DeadLetter
from portafn.store import AlreadyExists

app = App("ingest")

MAX_BYTES = 50 * 1024 * 1024
_KEY = re.compile(
    r"^(?P<tenant>[a-z0-9][a-z0-9-]{0,31})/(?P<day>\d{4}-\d{2}-\d{2})/(?P<name>[\w.-]{1,100})\.(?P<kind>csv|json)$"
)


class FileReceived(BaseModel):
    """What the pipeline announces about an accepted upload."""

    upload_id: str
    tenant: str
    day: str
    bucket: str
    key: str
    kind: Literal["csv", "json"]
    size: int


class FileRecord(BaseModel):
    """The catalogue's entry for a file."""

    tenant: str
    upload_id: str
    key: str
    kind: str
    size: int
    catalogued_at: datetime


class TenantTally(BaseModel):
    """Files and bytes received per tenant and day."""

    tenant: str
    day: str
    files: int = 0
    bytes: int = 0
    seen: list[str] = []


catalogue = app.table(FileRecord, partition_key="tenant", sort_key="upload_id", name="ingest_files")
tallies = app.table(TenantTally, partition_key="tenant", sort_key="day", name="ingest_tallies")


@app.storage("uploads", on="created")
def on_upload(ev: StorageEvent, ctx: Context) -> None:
    """Validate an upload and announce it; a file that can never be accepted goes to dead letter."""
    match = _KEY.match(ev.key)
    if match is None:
        raise DeadLetter("key must be <tenant>/<yyyy-mm-dd>/<name>.csv|json")
    size = ev.data.size if ev.data is not None and ev.data.size is not None else 0
    if not 0 < size <= MAX_BYTES:
        raise DeadLetter(f"size must be between 1 byte and {MAX_BYTES} bytes")
    upload_id = hashlib.sha256(f"{ev.bucket}/{ev.key}".encode()).hexdigest()[:24]
    received = FileReceived(
        upload_id=upload_id,
        tenant=match["tenant"],
        day=match["day"],
        bucket=ev.bucket,
        key=ev.key,
        kind=match["kind"],  # type: ignore[arg-type]  # the pattern admits only csv or json
        size=size,
    )
    ctx.publish("files-received", received, key=received.tenant)
    ctx.logger.info("upload accepted", extra={"upload_id": upload_id, "tenant": received.tenant})


@app.topic("files-received")
def catalogue_file(msg: Message[FileReceived]) -> None:
    """Record the file; a redelivery overwrites the same entry."""
    f = msg.data
    assert f is not None
    catalogue.put(
        FileRecord(
            tenant=f.tenant,
            upload_id=f.upload_id,
            key=f.key,
            kind=f.kind,
            size=f.size,
            catalogued_at=datetime.now(UTC),
        )
    )


@app.topic("files-received", name="tally_file")
def tally_file(msg: Message[FileReceived]) -> None:
    """Count files and bytes per tenant and day; a redelivered upload is counted once."""
    f = msg.data
    assert f is not None
    if tallies.get(f.tenant, f.day) is None:
        # Another delivery may create it first; the update below merges either way.
        with suppress(AlreadyExists):
            tallies.insert(TenantTally(tenant=f.tenant, day=f.day))

    def add(t: TenantTally) -> TenantTally:
        if f.upload_id in t.seen:
            return t
        return t.model_copy(
            update={"files": t.files + 1, "bytes": t.bytes + f.size, "seen": [*t.seen, f.upload_id]}
        )

    tallies.update(f.tenant, f.day, add)
