"""The project's own small GCP events (tests/events/gcp), for runs without the shared corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from portafn_gcp import events as gcp

from portafn.cloudevents import parse_time
from tests.support.fixtures import OWN_EVENTS

FOLDER = OWN_EVENTS / "gcp"


def own(name: str) -> Any:
    return json.loads((FOLDER / name).read_text())


def test_push_request_keeps_ordering_key_and_delivery_attempt() -> None:
    msg = gcp.to_message(
        gcp.cloudevent(own("pubsub-push-order-events.json"), "/projects/portafn-local/topics/order-events")
    )
    assert msg.json() == {"customer_id": "c-1", "order_id": "o-1", "status": "paid"}
    assert (msg.id, msg.ordering_key, msg.delivery_attempt, msg.queue) == ("1001", "c-1", 3, "order-events")
    assert msg.attributes == {"origin": "payments"}
    assert msg.source == "//pubsub.googleapis.com/projects/portafn-local/topics/order-events"
    assert msg.time == datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)


def test_cloudevent_message_keeps_traceparent() -> None:
    msg = gcp.to_message(gcp.cloudevent(own("pubsub-cloudevent-order-events.json")))
    assert msg.data == {"customer_id": "c-1", "order_id": "o-1", "status": "shipped"}
    assert msg.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert msg.queue == "order-events"


def test_storage_event() -> None:
    st = gcp.to_storage_event(gcp.cloudevent(own("storage-finalized-upload.json")))
    assert (st.bucket, st.key, st.action, st.subject) == (
        "uploads",
        "in/report 1.csv",
        "created",
        "objects/in/report 1.csv",
    )
    assert st.data is not None
    assert (st.data.size, st.data.content_type, st.data.version) == (2048, "text/csv", "1709290800000000")


def test_firestore_event_of_a_store_document_is_unwrapped_and_keyed() -> None:
    change = gcp.to_change(
        gcp.cloudevent(own("firestore-written-order.json")),
        table="orders",
        partition_key="customer_id",
        sort_key="order_id",
    )
    assert change.kind == "modify"
    assert change.key == {"customer_id": "c-1", "order_id": "o-1"}
    assert change.old is not None
    assert change.new is not None
    assert (change.old["status"], change.new["status"], change.new["total_cents"]) == ("new", "paid", 700)


def test_legacy_publish_from_a_scheduler_job_is_a_schedule() -> None:
    sched = gcp.to_schedule(gcp.cloudevent(own("legacy-pubsub-publish.json")), cron="0 2 * * *")
    assert sched.scheduled_time == parse_time("2024-03-01T02:00:00.000Z")
    assert sched.id == "4001"
    assert sched.cron == "0 2 * * *"


def test_change_round_trips_through_the_native_event() -> None:
    change = gcp.to_change(
        gcp.cloudevent(own("firestore-written-order.json")), partition_key="customer_id", sort_key="order_id"
    )
    native = gcp.change_to_cloudevent(change, partition_key="customer_id", sort_key="order_id")
    again = gcp.to_change(
        gcp.cloudevent(native), table="orders", partition_key="customer_id", sort_key="order_id"
    )
    assert (again.kind, again.key, again.old, again.new, again.id) == (
        change.kind,
        change.key,
        change.old,
        change.new,
        change.id,
    )
