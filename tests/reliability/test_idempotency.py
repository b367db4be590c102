"""Idempotent functions on every selected store: once per key, replay, mismatch, lease, TTL, threads."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from portafn import App, Context, Invocation, Message, Runtime
from portafn.binding import HttpBinder
from portafn.errors import RegistrationError
from portafn.factories import make_message
from portafn.reliability import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    IdempotencyRecord,
    Outcome,
    idempotent,
    outcome_of,
)
from portafn.reliability.idempotency import record_key as idempotency_record_key
from portafn.reliability.idempotency import scope_of
from portafn.store.registry import current_store, use_store
from portafn.testing import Client
from portafn.testing.drivers import LocalDriver
from tests.reliability.apps import app, effects, idempotency, pay


def runtime_of(client: Client) -> Runtime:
    if not isinstance(client.driver, LocalDriver):
        pytest.skip(f"drives the runtime in process; the {client.provider} driver does not expose one")
    return client.driver.runtime


# -- messages ----------------------------------------------------------------------------------


def test_a_repeated_message_runs_once_and_replays_the_typed_result(portafn_client: Client) -> None:
    first = portafn_client.send("payments", {"payment_id": "p-1", "amount": 500})
    again = portafn_client.send("payments", {"payment_id": "p-1", "amount": 500})
    assert first.ok, first.errors
    assert again.ok, again.errors
    assert effects.runs["charge"] == 1
    if portafn_client.provider == "local":  # only the local driver hands back a queue function's result
        assert first[0].result == again[0].result
        assert type(again[0].result).__name__ == "Receipt"  # revalidated into the return type
        assert again[0].result.run == 1


def test_same_key_with_another_payload_is_rejected_to_dead_letter(portafn_client: Client) -> None:
    assert portafn_client.send("payments", {"payment_id": "p-2", "amount": 500}).ok
    other = portafn_client.send("payments", {"payment_id": "p-2", "amount": 999})
    assert not other.ok
    assert other.errors == ["IdempotencyKeyReused"]
    assert other[0].dead_letter
    assert not other[0].retry
    assert effects.runs["charge"] == 1


def test_default_key_is_the_message_id(portafn_client: Client) -> None:
    msg = make_message({"x": 1}, queue="by-id")
    twin = make_message({"x": 1}, queue="by-id")
    assert portafn_client.emit("by_message_id", msg).ok
    assert portafn_client.emit("by_message_id", msg).ok  # a redelivery of the same message
    assert effects.runs["by_message_id"] == 1
    assert portafn_client.emit("by_message_id", twin).ok  # another message, same payload
    assert effects.runs["by_message_id"] == 2


def test_a_message_without_a_key_is_dead_lettered(portafn_client: Client) -> None:
    if portafn_client.provider in ("azure", "gcp"):
        pytest.skip(
            f"{portafn_client.provider} gives every queue message an id, so a message without a key cannot arrive"
        )
    keyless = make_message({"x": 1}, queue="by-id").model_copy(update={"id": ""})
    delivery = portafn_client.emit("by_message_id", keyless)
    assert not delivery.ok
    assert delivery.dead_letter
    assert delivery.error == "IdempotencyKeyMissing"
    assert effects.runs["by_message_id"] == 0


def test_a_failed_run_releases_the_key_so_the_retry_runs(portafn_client: Client) -> None:
    msg = make_message({"n": 1}, queue="flaky")
    first = portafn_client.emit("flaky", msg)
    assert not first.ok
    assert first.retry
    second = portafn_client.emit("flaky", msg)
    assert second.ok
    assert portafn_client.emit("flaky", msg).ok
    assert effects.runs["flaky"] == 2


_QUEUES = {"no_wait": "no-wait", "probe": "probe-q"}


def record_key(function: str, key: str) -> str:
    # Event keys are scoped to their producer (the CloudEvent source); HTTP keys without an
    # Authorization header or authorizer principal to the anonymous caller.
    queue = _QUEUES.get(function)
    scope = scope_of(make_message({}, queue=queue)) if queue else "anonymous"
    return idempotency_record_key(function, key, scope)


def payload_hash(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


def test_a_live_lease_makes_a_repeat_retry(portafn_client: Client) -> None:
    body = b'{"payment_id": "p-3", "amount": 1}'
    now = time.time()
    idempotency.insert(
        IdempotencyRecord(
            key=record_key("no_wait", "p-3"),
            status="in_progress",
            payload_hash=payload_hash(body),
            lease_until=now + 300,
            expires_at=int(now + 3600),
        )
    )
    delivery = portafn_client.emit("no_wait", make_message(body, queue="no-wait"))
    assert not delivery.ok
    assert delivery.retry
    assert not delivery.dead_letter
    assert delivery.error == "IdempotencyInProgress"
    assert effects.runs["no_wait"] == 0


def test_an_expired_lease_is_taken_over(portafn_client: Client) -> None:
    body = b'{"payment_id": "p-4", "amount": 1}'
    now = time.time()
    idempotency.insert(
        IdempotencyRecord(
            key=record_key("no_wait", "p-4"),
            status="in_progress",
            payload_hash=payload_hash(body),
            lease_until=now - 1,  # the holder's invocation timed out
            expires_at=int(now + 3600),
        )
    )
    delivery = portafn_client.emit("no_wait", make_message(body, queue="no-wait"))
    assert delivery.ok
    assert effects.runs["no_wait"] == 1
    stored = idempotency.get(record_key("no_wait", "p-4"))
    assert stored is not None
    assert stored.status == "completed"
    assert stored.result == "1"


def test_an_expired_result_runs_again(portafn_client: Client) -> None:
    body = b'{"payment_id": "p-5", "amount": 1}'
    now = time.time()
    idempotency.insert(
        IdempotencyRecord(
            key=record_key("no_wait", "p-5"),
            status="completed",
            payload_hash=payload_hash(body),
            lease_until=now - 10,
            expires_at=int(now - 1),  # past its TTL, whether or not the store deleted it yet
            result="41",
        )
    )
    delivery = portafn_client.emit("no_wait", make_message(body, queue="no-wait"))
    assert delivery.ok
    assert effects.runs["no_wait"] == 1


def test_the_lease_follows_the_remaining_time(portafn_client: Client) -> None:
    """The claim lasts as long as the platform lets the invocation run (here 42 s), plus 1 s."""
    seen: list[IdempotencyRecord | None] = []

    @idempotent(table=idempotency)
    def probe(msg: Message[Any], ctx: Context) -> None:
        seen.append(idempotency.get(record_key("probe", msg.id)))

    other = App("lease-probe")
    other.queue("probe-q")(probe)
    before = time.time()
    Runtime(other).handle_event(
        "probe", make_message({}, queue="probe-q"), Invocation(remaining_time=lambda: 42.0)
    )
    [record] = seen
    assert record is not None
    assert record.status == "in_progress"
    assert before + 43 <= record.lease_until <= time.time() + 43


# -- HTTP --------------------------------------------------------------------------------------


def test_http_repeat_replays_the_response(portafn_client: Client) -> None:
    headers = {"Idempotency-Key": "k-1"}
    body = {"payment_id": "p-1", "amount": 10}
    first = portafn_client.post("/payments/acc-1", json=body, headers=headers)
    again = portafn_client.post("/payments/acc-1", json=body, headers=headers)
    assert first.status == again.status == 201
    assert first.json() == again.json() == {"account": "acc-1", "payment_id": "p-1", "run": 1}
    assert again.headers.get("Location") == "/payments/acc-1/p-1"
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.headers.get("Idempotent-Replayed") is None
    assert effects.runs["pay"] == 1


def test_http_key_reused_with_another_body_is_409_problem(portafn_client: Client) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (
        portafn_client.post("/payments/a", json={"payment_id": "p", "amount": 1}, headers=headers).status
        == 201
    )
    clash = portafn_client.post("/payments/a", json={"payment_id": "p", "amount": 2}, headers=headers)
    assert clash.status == 409
    assert clash.headers.get("content-type") == "application/problem+json"
    assert "different request payload" in clash.json()["detail"]
    assert effects.runs["pay"] == 1


def test_http_in_progress_is_409_with_retry_after(portafn_client: Client) -> None:
    request = b'{"payment_id": "p", "amount": 1}'
    now = time.time()
    idempotency.insert(
        IdempotencyRecord(
            key=record_key("pay", "k-3"),
            status="in_progress",
            payload_hash=payload_hash(b"POST /payments/a\n" + request),
            lease_until=now + 30,
            expires_at=int(now + 3600),
        )
    )
    resp = portafn_client.post(
        "/payments/a", body=request, headers={"Idempotency-Key": "k-3", "content-type": "application/json"}
    )
    assert resp.status == 409
    assert resp.headers.get("Retry-After") in {"29", "30"}


def test_http_without_the_header_runs_every_time(portafn_client: Client) -> None:
    body = {"payment_id": "p", "amount": 1}
    assert portafn_client.post("/payments/a", json=body).json()["run"] == 1
    assert portafn_client.post("/payments/a", json=body).json()["run"] == 2


def test_http_key_from_a_body_path_and_required(portafn_client: Client) -> None:
    one = portafn_client.post("/transfers", json={"transfer": {"id": "t-1"}}, headers={"user-agent": "x"})
    two = portafn_client.post("/transfers", json={"transfer": {"id": "t-1"}}, headers={"user-agent": "x"})
    assert one.status == two.status == 200
    assert one.json() == two.json() == {"run": 1, "ua": "x"}
    missing = portafn_client.post("/transfers", json={"transfer": {}})
    assert missing.status == 400
    assert missing.headers.get("content-type") == "application/problem+json"


def test_async_handler_is_idempotent(portafn_client: Client) -> None:
    headers = {"Idempotency-Key": "a-1"}
    body = {"payment_id": "p", "amount": 3}
    assert portafn_client.post("/async-pay", json=body, headers=headers).json()["run"] == 1
    assert portafn_client.post("/async-pay", json=body, headers=headers).json()["run"] == 1


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_invocations_of_one_key_run_the_handler_once(portafn_client: Client) -> None:
    runtime = runtime_of(portafn_client)
    store = current_store()
    threads = 16
    body = {"payment_id": "p-race", "amount": 7}
    start = threading.Barrier(threads)
    results: list[Any] = []
    errors: list[BaseException] = []

    def invoke() -> None:
        with use_store(store):
            start.wait()
            try:
                results.append(runtime.handle_event("charge", make_message(body, queue="payments")))
            except BaseException as exc:
                errors.append(exc)

    workers = [threading.Thread(target=invoke) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert errors == []
    assert effects.runs["charge"] == 1
    assert len(results) == threads
    assert {(r.payment_id, r.run) for r in results} == {("p-race", 1)}


def test_concurrent_repeats_without_wait_are_told_to_retry(portafn_client: Client) -> None:
    runtime = runtime_of(portafn_client)
    store = current_store()
    effects.gate = threading.Event()  # hold the first run until every repeat has answered
    threads = 8
    outcomes: list[str] = []
    lock = threading.Lock()
    body = {"payment_id": "p-gate", "amount": 1}

    def invoke() -> None:
        with use_store(store):
            try:
                runtime.handle_event("no_wait", make_message(body, queue="no-wait"))
                answer = "ran"
            except IdempotencyInProgress:
                answer = "in-progress"
            with lock:
                outcomes.append(answer)
                if outcomes.count("in-progress") == threads - 1:
                    assert effects.gate is not None
                    effects.gate.set()

    workers = [threading.Thread(target=invoke) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sorted(outcomes) == ["in-progress"] * (threads - 1) + ["ran"]
    assert effects.runs["no_wait"] == 1


def test_1000_messages_3_deliveries_4_workers_make_1000_side_effects(portafn_client: Client) -> None:
    """At-least-once delivery (each message 3 times, in any order, from 4 workers) becomes
    exactly-once side effects. A repeat that finds its key in progress is re-queued, as a
    broker redelivers a message whose handler asked to retry."""
    runtime = runtime_of(portafn_client)
    store = current_store()
    messages = [
        make_message({"payment_id": f"p-{i}", "amount": i}, queue="consume-once") for i in range(1000)
    ]
    deliveries: queue.Queue[Message[Any] | None] = queue.Queue()
    for m in messages:
        for _ in range(3):  # the copies of one message sit together, so workers race on its key
            deliveries.put(m)
    failures: list[str] = []
    requeued = 0
    fn = app.function("consume_once")

    def worker() -> None:
        nonlocal requeued
        with use_store(store):
            while (m := deliveries.get()) is not None:
                try:
                    runtime.handle_event(fn, m)
                except IdempotencyInProgress:
                    requeued += 1
                    deliveries.put(m)  # before task_done, so join() cannot return early
                except Exception as exc:
                    failures.append(type(exc).__name__)
                finally:
                    deliveries.task_done()

    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    deliveries.join()
    for _ in pool:
        deliveries.put(None)
    for t in pool:
        t.join(60)
    assert failures == []
    assert effects.runs["consume_once"] == 1000


# -- the decorator -----------------------------------------------------------------------------


def test_decorator_keeps_the_handler_signature_for_the_binder() -> None:
    binder = app.function("pay").binder
    assert isinstance(binder, HttpBinder)
    sources = {p.name: p.source for p in binder.params}
    assert sources["account"] == "path"
    assert sources["body"] == "body"
    assert sources["ctx"] == "context"
    assert pay.__name__ == "pay"
    assert getattr(pay, "__wrapped__", None) is not None


def test_unresolvable_annotations_fail_at_registration() -> None:
    def broken(msg: Missing) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(RegistrationError, match="cannot read annotations"):
        idempotent(broken)


def test_key_reused_declares_dead_letter_and_in_progress_retry() -> None:
    assert outcome_of(IdempotencyKeyReused()) is Outcome.DEAD_LETTER
    assert outcome_of(IdempotencyInProgress(3)) is Outcome.RETRY
    assert IdempotencyInProgress(3).headers == {"Retry-After": "3"}
