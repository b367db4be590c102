"""The event store on every selected store (``--portafn-stores memory,sqlite,dynamodb,cosmos,firestore``):
contiguous versions under concurrent appenders, conflicts, reads, snapshots, and the outbox."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from portafn.eventstore import ConcurrencyConflict
from portafn.reliability import Outgoing, Publisher
from portafn.store.port import Store
from portafn.store.registry import use_store
from tests.eventstore.app import Added, Counter, Reset, counter, counters, outbox


@pytest.fixture
def store(portafn_store: Store) -> Iterator[Store]:
    """The selected store, current for this test and the threads it starts."""
    with use_store(portafn_store, follow_threads=True):
        yield portafn_store


@pytest.fixture
def stream_id() -> str:
    """A stream no other test writes (the session's store is shared)."""
    return f"s-{uuid.uuid4().hex[:12]}"


class Collect(Publisher):
    """A broker that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.lock = threading.Lock()

    def publish(self, message: Outgoing) -> None:
        with self.lock:
            self.sent.append(message)


def test_append_then_read_in_order(store: Store, stream_id: str) -> None:
    assert counters.version(stream_id) == 0
    assert counters.append(stream_id, [Added(amount=1), Added(amount=2)], expected_version=0) == 2
    assert counters.append(stream_id, [Reset()], expected_version=2) == 3
    read = counters.read(stream_id)
    assert [e.version for e in read] == [1, 2, 3]
    assert [type(e.event).__name__ for e in read] == ["Added", "Added", "Reset"]
    assert read[1].event == Added(amount=2)
    assert read[0].event_id == f"counters/{stream_id}/1"
    assert [e.version for e in counters.read(stream_id, from_version=2)] == [2, 3]
    assert [e.version for e in counters.read(stream_id, 2, to_version=2)] == [2]


def test_a_stale_expected_version_raises_and_writes_nothing(store: Store, stream_id: str) -> None:
    counters.append(stream_id, [Added(amount=1)], expected_version=0)
    with pytest.raises(ConcurrencyConflict, match="not at version 0"):
        counters.append(stream_id, [Added(amount=5), Added(amount=6)], expected_version=0)
    assert [e.event for e in counters.read(stream_id)] == [Added(amount=1)]


def test_an_expected_version_ahead_of_the_stream_leaves_no_gap(store: Store, stream_id: str) -> None:
    counters.append(stream_id, [Added(amount=1)], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        counters.append(stream_id, [Added(amount=2)], expected_version=3)
    assert counters.version(stream_id) == 1


def test_eight_concurrent_appenders_end_with_contiguous_versions(store: Store, stream_id: str) -> None:
    writers, each = 8, 6
    conflicts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(each):
                tag = f"w{n}-{i}"
                while True:  # an explicit expected version: read, append, retry on a lost race
                    try:
                        counters.append(
                            stream_id,
                            [Added(amount=1, tag=tag)],
                            expected_version=counters.version(stream_id),
                        )
                        break
                    except ConcurrencyConflict:
                        conflicts.append(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    events = counters.read(stream_id)
    assert [e.version for e in events] == list(range(1, writers * each + 1))
    tags = [e.event.tag for e in events if isinstance(e.event, Added)]
    assert sorted(tags) == sorted(f"w{n}-{i}" for n in range(writers) for i in range(each))


def test_appends_at_any_version_from_concurrent_writers(store: Store, stream_id: str) -> None:
    threads = [
        threading.Thread(
            target=lambda: [
                counters.append(stream_id, [Added(amount=1)], expected_version=None) for _ in range(3)
            ]
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert [e.version for e in counters.read(stream_id)] == list(range(1, 13))


def test_aggregate_snapshots_every_n_events_and_rehydrates(store: Store, stream_id: str) -> None:
    for i in range(1, 8):
        counter.execute(stream_id, lambda s, i=i: [Added(amount=i)])
    snapshot = counters.snapshots.get(stream_id)
    assert snapshot is not None
    assert snapshot.version == 5  # snapshot_every=5: written when the fold first passed 5 events
    loaded = counter.load(stream_id)
    assert loaded.version == 7
    assert loaded.from_snapshot == 5
    assert loaded.state == Counter(total=sum(range(1, 8)), events=7)


def test_a_snapshot_of_another_schema_is_ignored(store: Store, stream_id: str) -> None:
    from portafn.eventstore import Aggregate

    for _ in range(5):
        counter.execute(stream_id, lambda s: [Added(amount=2)])
    newer = Aggregate(counters, Counter, initial=Counter, apply=lambda s, e: s, schema_version=2)
    assert newer.load(stream_id).from_snapshot == 0


def test_a_refused_command_appends_nothing(store: Store, stream_id: str) -> None:
    def overdraw(state: Counter) -> list[Added | Reset]:
        raise ValueError("insufficient")

    with pytest.raises(ValueError, match="insufficient"):
        counter.execute(stream_id, overdraw)
    assert counters.version(stream_id) == 0


def test_appended_events_are_published_once_through_the_relay(store: Store, stream_id: str) -> None:
    counters.append(stream_id, [Added(amount=1), Added(amount=2)], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        counters.append(stream_id, [Added(amount=99)], expected_version=0)  # rolled back: never published
    counters.append(stream_id, [Reset()], expected_version=2)
    bus = Collect()
    outbox.sweep(bus)
    outbox.sweep(bus)  # nothing is left to send again
    mine = [m for m in bus.sent if (m.event.subject or "").startswith(f"{stream_id}/")]
    assert [m.id for m in mine] == [f"counters/{stream_id}/{v}" for v in (1, 2, 3)]
    assert [m.event.type for m in mine] == ["counters.Added", "counters.Added", "counters.Reset"]
    assert {m.key for m in mine} == {stream_id}
    assert mine[1].event.data == {"kind": "added", "amount": 2, "tag": ""}
