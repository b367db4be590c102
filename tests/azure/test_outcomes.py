"""Message outcomes on Azure: ``DeadLetter`` on a Storage queue trigger puts the message on the
host's ``<queue>-poison`` queue at once (a real Azurite queue, read back with the real client) and
the invocation succeeds; ``Retry`` and failures raise for the host to retry; a failed forward
raises so nothing is lost. The driver reports what the entry does, trigger by trigger."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from portafn_azure import outcomes
from portafn_azure.driver import AzureDriver, queue_trigger_input
from portafn_azure.publish import AzurePublisher

from portafn import App, Context, Message, Schedule
from portafn.dev.process import ServerError
from portafn.dev.servers import RunningServer, start
from portafn.factories import make_message, make_schedule
from portafn.reliability import DeadLetter, Retry
from portafn.reliability.publish import build


@pytest.fixture(scope="module")
def azurite() -> Iterator[RunningServer]:
    try:
        server = start("azurite")
    except ServerError as exc:
        pytest.fail(f"cannot start Azurite (run `npm ci`): {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def storage(azurite: RunningServer, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = azurite.env["AzureWebJobsStorage"]
    monkeypatch.setenv("AzureWebJobsStorage", conn)
    monkeypatch.delenv("PORTAFN_AZURE_MESSAGING", raising=False)
    return conn


def jobs_app(runs: list[str]) -> App:
    app = App("azure-outcomes")

    def decide(msg: Message[dict[str, str]]) -> str:
        assert msg.data is not None
        runs.append(msg.data["do"])
        if msg.data["do"] == "dead-letter":
            raise DeadLetter("customer does not exist")
        if msg.data["do"] == "retry":
            raise Retry("not yet", delay=5)
        if msg.data["do"] == "crash":
            raise KeyError("boom")
        return "ok"

    @app.queue("jobs")
    def on_job(msg: Message[dict[str, str]], ctx: Context) -> str:
        return decide(msg)

    @app.topic("jobs-topic")
    def on_job_topic(msg: Message[dict[str, str]], ctx: Context) -> str:
        return decide(msg)

    @app.schedule("*/5 * * * *")
    def tick(run: Schedule, ctx: Context) -> None:
        raise DeadLetter("a timer has no dead letter")

    return app


def queue(conn: str, name: str) -> Any:
    from azure.storage.queue import QueueClient

    return QueueClient.from_connection_string(conn, name)


def drain(conn: str, name: str, *, delete: bool = True) -> list[Any]:
    """Every message on ``name``, received (and deleted unless ``delete`` is false)."""
    from azure.core.exceptions import ResourceNotFoundError

    client = queue(conn, name)
    try:
        got = list(client.receive_messages(max_messages=32, visibility_timeout=30))
    except ResourceNotFoundError:
        return []
    if delete:
        for message in got:
            client.delete_message(message)
    return got


def host_delivers(conn: str, name: str) -> tuple[Any, Any]:
    """Receive the one message on ``name`` as the host does and shape it for the worker."""
    [got] = drain(conn, name, delete=False)
    native = queue_trigger_input(
        base64.b64decode(got.content),
        id=got.id,
        dequeue_count=got.dequeue_count,
        insertion_time=got.inserted_on,
        expiration_time=got.expires_on,
        next_visible_time=got.next_visible_on,
        pop_receipt=got.pop_receipt,
    )
    return got, native


def publish_job(do: str, name: str = "jobs") -> str:
    outgoing = build(name, {"do": do}, source="portafn://t/f", correlation_id="corr-1", causation_id="c-1")
    AzurePublisher().publish(outgoing)
    return outgoing.id


def test_dead_letter_goes_to_the_poison_queue_and_the_invocation_succeeds(storage: str) -> None:
    runs: list[str] = []
    driver = AzureDriver(jobs_app(runs), poison_sink=None)  # the real sink: Azurite's queues
    message_id = publish_job("dead-letter")
    original, native = host_delivers(storage, "jobs")
    assert driver.call("on_job", native) is None  # success: the host deletes the original
    queue(storage, "jobs").delete_message(original)
    [poisoned] = drain(storage, "jobs-poison")
    body = json.loads(base64.b64decode(poisoned.content))  # base64, as the host writes poison too
    assert (body["id"], body["data"], body["correlationid"]) == (message_id, {"do": "dead-letter"}, "corr-1")
    assert (body["deadletterreason"], body["deadletterfunction"]) == ("customer does not exist", "on_job")
    assert drain(storage, "jobs") == []
    assert runs == ["dead-letter"]


@pytest.mark.parametrize(("do", "error"), [("retry", Retry), ("crash", KeyError)])
def test_retry_and_failures_raise_for_the_host(storage: str, do: str, error: type[Exception]) -> None:
    driver = AzureDriver(jobs_app([]), poison_sink=None)
    publish_job(do, "jobs-retry")
    _, native = host_delivers(storage, "jobs-retry")
    with pytest.raises(error):
        driver.call("on_job", native)
    assert drain(storage, "jobs-retry-poison") == []


def test_a_failed_forward_raises_so_the_message_is_retried(
    storage: str, azurite: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import HttpResponseError

    # The same Azurite with a wrong account key: the poison send is refused (403).
    wrong = storage.replace("AccountKey=", "AccountKey=AAAA")
    monkeypatch.setenv("WrongKeyStorage", wrong)
    failed: list[Exception] = []
    sink = outcomes.storage_poison_sink("WrongKeyStorage")

    def attempt(poisoned: outcomes.Poisoned) -> None:
        try:
            sink(poisoned)
        except HttpResponseError as exc:
            failed.append(exc)
            raise

    driver = AzureDriver(jobs_app([]), poison_sink=attempt)
    publish_job("dead-letter", "jobs-refused")
    _, native = host_delivers(storage, "jobs-refused")
    with pytest.raises(DeadLetter):
        driver.call("on_job", native)
    assert [getattr(e, "status_code", None) for e in failed] == [403]
    assert drain(storage, "jobs-refused-poison") == []


def test_a_body_that_is_not_a_cloudevent_is_poisoned_unchanged(storage: str) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

    client = QueueClient.from_connection_string(
        storage, "jobs", message_encode_policy=BinaryBase64EncodePolicy()
    )
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    client.send_message(b'{"do": "dead-letter"}')  # another producer's plain JSON
    driver = AzureDriver(jobs_app([]), poison_sink=None)
    original, native = host_delivers(storage, "jobs")
    driver.call("on_job", native)
    client.delete_message(original)
    [poisoned] = drain(storage, "jobs-poison")
    assert base64.b64decode(poisoned.content) == b'{"do": "dead-letter"}'


@pytest.mark.parametrize(
    ("do", "expected"),
    [
        ("ok", (True, False, False)),
        ("retry", (False, True, False)),
        ("crash", (False, True, False)),
        ("dead-letter", (False, False, True)),  # moved to <queue>-poison by the entry
    ],
)
def test_driver_on_storage_queues_reports_what_the_entry_does(do: str, expected: tuple[bool, ...]) -> None:
    driver = AzureDriver(jobs_app([]))
    delivery = driver.deliver(driver.app.function("on_job"), make_message({"do": do}, queue="jobs"))
    assert (delivery.ok, delivery.retry, delivery.dead_letter) == expected
    assert len(driver.poisoned) == (1 if do == "dead-letter" else 0)
    if do == "dead-letter":
        [poisoned] = driver.poisoned
        assert (poisoned.queue, poisoned.poison_queue, poisoned.reason, poisoned.error) == (
            "jobs",
            "jobs-poison",
            "customer does not exist",
            "DeadLetter",
        )


@pytest.mark.parametrize("function", ["on_job_topic", "on_job"])
def test_on_service_bus_dead_letter_is_a_raise_the_host_retries(function: str) -> None:
    # The Python worker cannot settle Service Bus messages: the message is abandoned and reaches
    # the dead-letter subqueue after MaxDeliveryCount.
    driver = AzureDriver(jobs_app([]), messaging="servicebus")
    fn = driver.app.function(function)
    delivery = driver.deliver(fn, make_message({"do": "dead-letter"}, queue=fn.name))
    assert (delivery.ok, delivery.error, delivery.retry, delivery.dead_letter) == (
        False,
        "DeadLetter",
        True,
        False,
    )
    assert driver.poisoned == []


def test_a_timer_has_no_dead_letter_and_is_not_retried() -> None:
    driver = AzureDriver(jobs_app([]))
    fn = driver.app.function("tick")
    delivery = driver.deliver(fn, make_schedule(fn))
    assert (delivery.ok, delivery.retry, delivery.dead_letter) == (False, False, False)


def test_only_storage_queue_triggers_dead_letter_in_the_entry() -> None:
    assert outcomes.dead_letters_now("queueTrigger")
    assert not outcomes.dead_letters_now("serviceBusTrigger")
    assert not outcomes.dead_letters_now("timerTrigger")
