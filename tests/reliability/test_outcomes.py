"""Per-message outcomes: what a handler's ending means, and how the local driver reports it."""

from __future__ import annotations

import pytest

from portafn.errors import EventDataError
from portafn.reliability import DeadLetter, Outcome, Retry, outcome_of
from portafn.reliability.outcomes import reason_of, retry_delay
from portafn.testing import Client
from portafn.testing.drivers import Delivery


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, Outcome.SUCCESS),
        (Retry(), Outcome.RETRY),
        (DeadLetter("bad"), Outcome.DEAD_LETTER),
        (ValueError("x"), Outcome.RETRY),  # anything unexpected is retried: nothing is lost
        (EventDataError("f", []), Outcome.RETRY),  # the provider's redrive limit dead-letters it
    ],
)
def test_outcome_of(error: BaseException | None, outcome: Outcome) -> None:
    assert outcome_of(error) is outcome


def test_reasons_and_delay() -> None:
    assert reason_of(DeadLetter("no such customer")) == "no such customer"
    assert reason_of(KeyError("k")) == "KeyError"
    assert reason_of(None) is None
    assert retry_delay(Retry("later", delay=2.5)) == 2.5
    assert retry_delay(KeyError()) is None


@pytest.mark.parametrize(
    ("do", "expected"),
    [
        ("ok", Delivery(ok=True, result="ok")),
        ("retry", Delivery(ok=False, error="Retry", retry=True)),
        ("dead-letter", Delivery(ok=False, error="DeadLetter", dead_letter=True)),
        ("crash", Delivery(ok=False, error="KeyError", retry=True)),
    ],
)
def test_local_driver_reports_each_outcome(portafn_client: Client, do: str, expected: Delivery) -> None:
    deliveries = portafn_client.send("outcomes", {"do": do})
    got = [(d.ok, d.retry, d.dead_letter) for d in deliveries]
    want = [(expected.ok, expected.retry, expected.dead_letter)] * 2
    if portafn_client.provider == "azure" and do == "dead-letter":
        # The topic function is on Service Bus, where the worker cannot settle a message: a
        # DeadLetter is retried until MaxDeliveryCount moves it (docs/concepts/failures.md).
        want = [(False, False, True), (False, True, False)]
    # The queue function and the topic function; the error name and result are the local driver's.
    assert got == want
    if portafn_client.provider == "local":
        assert list(deliveries) == [expected, expected]


def test_bad_data_is_a_retried_failure(portafn_client: Client) -> None:
    [delivery, _] = portafn_client.send("outcomes", {"do": 1})
    assert (delivery.ok, delivery.error, delivery.retry, delivery.dead_letter) == (
        False,
        "EventDataError",
        True,
        False,
    )
