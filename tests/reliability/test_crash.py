"""A relay killed between the commit and the relay loses no event, and the idempotent consumer
applies each exactly once (a real process, killed with SIGKILL, on a store both processes open)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from portafn import App
from portafn.reliability import Outgoing, Relay
from portafn.reliability.publish import to_message
from portafn.store.registry import current_store
from portafn.testing import Client
from tests.reliability.apps import effects
from tests.reliability.outbox_app import JournalPublisher, applied, journal, outbox

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 60
KILL_AFTER = 25


@pytest.fixture
def portafn_app(outbox_portafn_app: App) -> App:
    """This module's tests drive the outbox app."""
    return outbox_portafn_app


def order_of(message: Outgoing) -> str:
    """The order id a relayed order-created message carries."""
    data = message.event.data
    assert isinstance(data, dict)
    return str(data["order_id"])


def test_killed_relay_loses_nothing_and_consumer_applies_once(portafn_client: Client) -> None:
    store = current_store()
    if store.scheme == "memory":
        pytest.skip("memory:// lives inside one process; a crash test needs a store two processes share")
    child = subprocess.run(
        [sys.executable, "-m", "tests.reliability.crash_child", store.url, str(ORDERS), str(KILL_AFTER)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    ids = json.loads(child.stdout.splitlines()[0])
    assert len(set(ids)) == ORDERS

    # The crash: KILL_AFTER messages reached the broker, the last of them still in the outbox.
    assert len(journal.query("broker", limit=1000).items) == KILL_AFTER
    assert len(list(outbox.pending())) == ORDERS - KILL_AFTER + 1

    # Restart: the relay recovers what is pending.
    result = Relay(outbox, JournalPublisher()).start()
    assert (result.published, result.failed) == (ORDERS - KILL_AFTER + 1, 0)
    assert list(outbox.pending()) == []
    sent = [Outgoing.from_record(e.message) for e in journal.query("broker", limit=1000).items]
    assert len(sent) == ORDERS + 1  # at least once: one message went out twice
    assert {m.id for m in sent} == set(ids)

    # Every copy is delivered to the idempotent consumer; each event is applied once.
    for m in sent:
        assert portafn_client.emit("apply_once", to_message(m)).ok
    assert effects.runs["apply_once"] == ORDERS
    assert all(applied.get(i) is not None for i in ids)
    # Order per key survived the crash: each customer's orders went out in the order they were made.
    firsts: dict[str, list[int]] = {}
    seen: set[str] = set()
    for m in sent:
        if m.id not in seen:
            seen.add(m.id)
            firsts.setdefault(str(m.key), []).append(int(order_of(m)[2:]))
    assert all(v == sorted(v) for v in firsts.values()), firsts
