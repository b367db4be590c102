"""Projections on every selected store (``--portafn-stores memory,sqlite,dynamodb,cosmos,firestore``):
in order per stream, once per event under duplicate, late and out-of-order delivery, replays,
rebuilds, and two projectors racing on one stream."""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from portafn.projections import RebuildProgress, rebuild
from portafn.store.port import Store
from tests.projections.app import Posted, Total, app, ledger, lines, lines_view, total_view, totals


@pytest.fixture
def stream_id() -> str:
    """A stream no other test writes (the session's store is shared)."""
    return f"s-{uuid.uuid4().hex[:12]}"


def post(stream_id: str, *amounts: int) -> int:
    return ledger.append(stream_id, [Posted(amount=a) for a in amounts], expected_version=None)


def total(stream_id: str) -> Total | None:
    return totals.get(stream_id)


def test_catch_up_applies_every_event_in_order_and_moves_the_checkpoint(store: Store, stream_id: str) -> None:
    post(stream_id, 5, 7, 11)
    assert total_view.catch_up(stream_id) == 3
    assert total(stream_id) == Total(stream_id=stream_id, total=23, count=3, seen=[1, 2, 3])
    assert total_view.position(stream_id) == 3
    assert lines_view.catch_up(stream_id) == 3
    assert [(li.version, li.amount) for li in lines.query(stream_id)] == [(1, 5), (2, 7), (3, 11)]


def test_a_duplicate_delivery_applies_nothing(store: Store, stream_id: str) -> None:
    post(stream_id, 1, 2)
    assert total_view.handle(stream_id, 2) == 2
    assert total_view.handle(stream_id, 2) == 0
    assert total_view.handle(stream_id, 1) == 0
    assert total(stream_id) == Total(stream_id=stream_id, total=3, count=2, seen=[1, 2])


def test_out_of_order_delivery_applies_in_version_order(store: Store, stream_id: str) -> None:
    post(stream_id, 1, 2, 3, 4, 5)
    assert total_view.handle(stream_id, 4) == 4  # versions 1-3 first, read from the stream
    assert total_view.handle(stream_id, 2) == 0  # late: already applied
    assert total_view.handle(stream_id, 5) == 1
    assert total(stream_id) == Total(stream_id=stream_id, total=15, count=5, seen=[1, 2, 3, 4, 5])


def test_a_replay_skips_versions_already_applied(store: Store, stream_id: str) -> None:
    post(stream_id, 10, 20)
    total_view.catch_up(stream_id)
    post(stream_id, 30)
    assert total_view.catch_up(stream_id) == 1
    assert total_view.catch_up(stream_id) == 0
    assert total(stream_id) == Total(stream_id=stream_id, total=60, count=3, seen=[1, 2, 3])


def test_an_event_that_writes_nothing_still_lets_later_ones_in_once(store: Store, stream_id: str) -> None:
    post(stream_id, 4, 0, 6)
    assert lines_view.handle(stream_id, 2) == 2
    lines_view.handle(stream_id, 3)
    lines_view.handle(stream_id, 3)
    assert [li.version for li in lines.query(stream_id)] == [1, 3]


def test_rebuild_clears_the_view_and_replays_every_stream(store: Store) -> None:
    ids = [f"r-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for n, sid in enumerate(ids, 1):
        post(sid, *range(1, n + 2))
        total_view.catch_up(sid)
    totals.put(Total(stream_id=ids[0], total=-999, count=99))  # a view gone wrong
    steps: list[RebuildProgress] = []
    result = rebuild(total_view, steps.append)
    for n, sid in enumerate(ids, 1):
        amounts = list(range(1, n + 2))
        assert total(sid) == Total(
            stream_id=sid, total=sum(amounts), count=len(amounts), seen=list(range(1, len(amounts) + 1))
        )
    mine = [s for s in steps if s.stream_id in ids]
    assert sorted(s.applied for s in mine) == [2, 3, 4]
    assert steps[-1].done == steps[-1].total == result.streams
    assert result.events >= 9


def test_two_projectors_racing_on_one_stream_apply_each_event_once(store: Store, stream_id: str) -> None:
    events = 16
    post(stream_id, *range(1, events + 1))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def project(seed: int) -> None:
        # Each projector sees the deliveries in its own shuffled order, duplicates included.
        order = [v for v in range(1, events + 1) for _ in range(2)]
        random.Random(seed).shuffle(order)
        try:
            start.wait()
            for version in order:
                total_view.handle(stream_id, version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=project, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert total(stream_id) == Total(
        stream_id=stream_id, total=sum(range(1, events + 1)), count=events, seen=list(range(1, events + 1))
    )
    assert total_view.position(stream_id) == events


def test_the_change_function_projects_appended_events(store: Store, stream_id: str) -> None:
    from portafn.testing import Client

    client = Client(app)
    post(stream_id, 3, 4)
    deliveries = client.deliver_changes()
    assert deliveries.ok, deliveries.errors
    assert total(stream_id) == Total(stream_id=stream_id, total=7, count=2, seen=[1, 2])
    assert [li.version for li in lines.query(stream_id)] == [1, 2]
