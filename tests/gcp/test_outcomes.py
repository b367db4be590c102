"""Message outcomes on GCP against Google's Pub/Sub emulator: what a handler's ending answers.

Success answers 2xx (ack); ``Retry`` and any other raise answer 5xx (nack: Pub/Sub redelivers);
``DeadLetter`` publishes the message to the function's dead-letter topic and answers 2xx, or 5xx
when that publish fails, so a message is never lost. The GCP driver reports ``dead_letter`` exactly
when the entry dead-lettered.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from portafn_gcp.driver import GcpDriver
from portafn_gcp.publish import (
    FUNCTION_ATTRIBUTE,
    REASON_ATTRIBUTE,
    dead_letter_topic,
)

from portafn import App, Message, Schedule, StorageEvent
from portafn.factories import make_message, make_schedule, make_storage_event
from portafn.reliability import DeadLetter, Retry
from portafn.testing.drivers import Delivery
from tests.gcp.test_publish import Emulator, emulator, unique

__all__ = ["emulator"]  # the fixture, shared with test_publish


def outcome_app(queue: str, bucket: str) -> App:
    app = App(unique("outcomes"))

    @app.queue(queue)
    def consume(msg: Message[dict[str, Any]]) -> None:
        do = (msg.data or {}).get("do")
        if do == "retry":
            raise Retry("later", delay=5)
        if do == "dead-letter":
            raise DeadLetter("no such customer")
        if do == "crash":
            raise KeyError("k")

    @app.storage(bucket, on="created")
    def on_upload(ev: StorageEvent) -> None:
        raise DeadLetter("not an image")

    @app.schedule("0 2 * * *")
    def nightly(ev: Schedule) -> None:
        raise DeadLetter("nothing to do")

    return app


def push(driver: GcpDriver, fn: str, topic: str, data: dict[str, Any], attrs: dict[str, str]) -> Any:
    envelope = {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "attributes": attrs,
            "messageId": "m-" + unique("id"),
            "publishTime": "2026-01-02T03:04:05.000Z",
        },
        "subscription": f"projects/portafn-local/subscriptions/{topic}-push",
        "deliveryAttempt": 2,
    }
    return envelope, driver._client(fn).post(f"/projects/portafn-local/topics/{topic}", json=envelope)


@pytest.fixture
def setup(emulator: Emulator) -> tuple[Emulator, App, GcpDriver, str]:
    queue = unique("work")
    app = outcome_app(queue, unique("bucket"))
    return emulator, app, GcpDriver(app), queue


def test_dead_letter_is_published_to_the_dead_letter_topic_then_acked(
    setup: tuple[Emulator, App, GcpDriver, str],
) -> None:
    em, app, driver, queue = setup
    dlt = dead_letter_topic(app.functions["consume"])
    assert dlt == f"{queue}-dead-letter"
    subscription = em.subscription(em.topic(dlt))
    envelope, resp = push(driver, "consume", queue, {"do": "dead-letter"}, {"tenant": "t1"})
    assert resp.status_code == 200  # acknowledged: Pub/Sub will not redeliver it
    [received] = em.pull(subscription)
    msg = received.message
    assert json.loads(msg.data) == {"do": "dead-letter"}
    attrs = dict(msg.attributes)
    assert attrs["tenant"] == "t1"
    assert attrs[REASON_ATTRIBUTE] == "no such customer"
    assert attrs[FUNCTION_ATTRIBUTE] == "consume"
    assert attrs["ce-id"] == envelope["message"]["messageId"]  # the message keeps its identity


def test_dead_letter_that_cannot_be_forwarded_is_not_acked(
    setup: tuple[Emulator, App, GcpDriver, str],
) -> None:
    _, _, driver, queue = setup  # no dead-letter topic exists
    _, resp = push(driver, "consume", queue, {"do": "dead-letter"}, {})
    assert resp.status_code >= 500  # nacked: redelivered, never lost


@pytest.mark.parametrize("do", ["retry", "crash"])
def test_retry_and_errors_are_nacked(setup: tuple[Emulator, App, GcpDriver, str], do: str) -> None:
    _, _, driver, queue = setup
    _, resp = push(driver, "consume", queue, {"do": do}, {})
    assert resp.status_code >= 500


def test_success_is_acked(setup: tuple[Emulator, App, GcpDriver, str]) -> None:
    _, _, driver, queue = setup
    _, resp = push(driver, "consume", queue, {"do": "ok"}, {})
    assert resp.status_code == 200


def test_an_eventarc_event_is_dead_lettered_as_its_cloudevent(
    setup: tuple[Emulator, App, GcpDriver, str],
) -> None:
    em, app, driver, _ = setup
    dlt = dead_letter_topic(app.functions["on_upload"])
    assert dlt == "portafn-on_upload-dead-letter"
    subscription = em.subscription(em.topic(dlt))
    event = make_storage_event("uploads", "a/b.txt", size=3)
    delivery = driver.deliver(app.functions["on_upload"], event)
    assert delivery == Delivery(ok=False, error="DeadLetter", dead_letter=True)
    [received] = em.pull(subscription)
    cloudevent = json.loads(received.message.data)
    assert cloudevent["type"] == "google.cloud.storage.object.v1.finalized"
    assert cloudevent["id"] == event.id
    assert cloudevent["data"]["name"] == "a/b.txt"
    attrs = dict(received.message.attributes)
    assert attrs["content-type"] == "application/cloudevents+json"
    assert attrs[REASON_ATTRIBUTE] == "not an image"


def test_a_schedule_dead_letters_to_its_scheduler_topics_dead_letter_topic(
    setup: tuple[Emulator, App, GcpDriver, str],
) -> None:
    em, app, driver, _ = setup
    fn = app.functions["nightly"]
    dlt = dead_letter_topic(fn)
    assert dlt == "portafn-schedule-nightly-dead-letter"
    path = em.publisher.topic_path(em.project, dlt)
    with contextlib.suppress(gexc.AlreadyExists):  # the name is fixed; the emulator lives all session
        em.publisher.create_topic(name=path)
    subscription = em.subscriber.subscription_path(em.project, unique("nightly-dl"))
    em.subscriber.create_subscription(request={"name": subscription, "topic": path})
    event = make_schedule(fn)
    assert driver.deliver(fn, event) == Delivery(ok=False, error="DeadLetter", dead_letter=True)
    [received] = em.pull(subscription)
    assert json.loads(received.message.data)["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert received.message.attributes["ce-id"] == event.id


def test_driver_reports_each_outcome_as_the_entry_settles_it(
    setup: tuple[Emulator, App, GcpDriver, str],
) -> None:
    em, app, driver, queue = setup
    fn = app.functions["consume"]
    assert driver.deliver(fn, make_message({"do": "ok"}, queue=queue)) == Delivery(ok=True)
    assert driver.deliver(fn, make_message({"do": "retry"}, queue=queue)) == Delivery(
        ok=False, error="Retry", retry=True
    )
    assert driver.deliver(fn, make_message({"do": "crash"}, queue=queue)) == Delivery(
        ok=False, error="KeyError", retry=True
    )
    # No dead-letter topic yet: forwarding fails, so the message is retried, not dropped.
    assert driver.deliver(fn, make_message({"do": "dead-letter"}, queue=queue)) == Delivery(
        ok=False, error="PublishError", retry=True
    )
    subscription = em.subscription(em.topic(dead_letter_topic(fn)))
    assert driver.deliver(fn, make_message({"do": "dead-letter"}, queue=queue)) == Delivery(
        ok=False, error="DeadLetter", dead_letter=True
    )
    assert len(em.pull(subscription)) == 1
