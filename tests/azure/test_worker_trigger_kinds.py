"""The trigger kinds the samples do not use, through the real worker in the driver's worker mode:
a Service Bus queue (``PORTAFN_AZURE_MESSAGING=servicebus``), custom events over Event Grid in both
schemas, and blob deletions (an Event Grid trigger). Each handler records what it got in a table the
test reads back, so an answer could only come from the worker running the packaged app."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portafn_azure.dev.worker_driver import AzureWorkerDriver

from portafn.events import Event
from portafn.store.registry import open_store, use_store
from portafn.testing import Client
from tests.azure import worker_host

pytestmark = pytest.mark.emulator

APP = """
from typing import Any

from pydantic import BaseModel

from portafn import App, Event, Message, StorageEvent

app = App("kinds")


class Seen(BaseModel):
    kind: str
    what: str


seen = app.table(Seen, partition_key="kind", sort_key="what", name="kinds_seen")


@app.queue("jobs")
def on_job(msg: Message[Any]) -> None:
    seen.put(Seen(kind="queue", what=str(msg.data["job"])))


@app.event("com.example.thing.happened")
def on_thing(ev: Event[Any]) -> None:
    seen.put(Seen(kind="event", what=str(ev.data["thing"])))


@app.storage("uploads", on="deleted")
def on_deleted(ev: StorageEvent) -> None:
    seen.put(Seen(kind="deleted", what=ev.key))
"""


@pytest.fixture
def kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    try:
        worker_host.prepare()
    except worker_host.WorkerUnavailable as exc:
        worker_host.unavailable(str(exc))
    (tmp_path / "worker_trigger_kinds.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PORTAFN_AZURE_MESSAGING", "servicebus")  # read by the driver and the worker
    module = importlib.import_module("worker_trigger_kinds")
    store = open_store(f"sqlite:///{tmp_path}/kinds.db")
    with use_store(store):
        store.ensure_table(module.seen.spec)
        yield module
    store.close()
    sys.modules.pop("worker_trigger_kinds", None)


def test_service_bus_queue_event_grid_and_blob_deleted_run_in_the_worker(kinds: Any) -> None:
    driver = AzureWorkerDriver(kinds.app)
    client = Client(kinds.app, driver)
    triggers = {name: f["trigger"]["type"] for name, f in driver.session().functions.items()}
    assert triggers == {
        "on_job": "serviceBusTrigger",
        "on_thing": "eventGridTrigger",
        "on_deleted": "eventGridTrigger",
    }

    assert client.send("jobs", {"job": "j-1"}).ok
    thing = Event(id="ev-1", source="/things", type="com.example.thing.happened", data={"thing": "t-1"})
    assert client.emit("on_thing", thing).ok
    as_cloudevent = Client(kinds.app, AzureWorkerDriver(kinds.app, event_schema="cloudevents"))
    assert as_cloudevent.emit("on_thing", thing.model_copy(update={"data": {"thing": "t-2"}})).ok
    assert client.drop("uploads", "q1.csv", action="deleted").ok

    seen = {(s.kind, s.what) for kind in ("queue", "event", "deleted") for s in kinds.seen.query(kind).items}
    assert seen == {("queue", "j-1"), ("event", "t-1"), ("event", "t-2"), ("deleted", "q1.csv")}
