"""Table projections on every selected store (``--portafn-stores memory,sqlite,dynamodb,cosmos,firestore``):
a change applied once per item version under duplicate and out-of-order delivery, deletes, rebuild,
two projectors racing on one item, and the registered change function."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import pytest

from portafn import Change
from portafn.projections import RebuildProgress, rebuild
from portafn.store.capabilities import Capability
from portafn.store.port import Store
from tests.projections.table_app import Account, Summary, accounts, app, summaries, summary_view


@pytest.fixture
def owner() -> str:
    """An owner (the source's partition) no other test writes: the session's store is shared."""
    return f"o-{uuid.uuid4().hex[:12]}"


def account(owner: str, version: int, balance: int | None = None) -> Account:
    return Account(
        owner=owner, account_id="acc", balance=version * 10 if balance is None else balance, version=version
    )


def change(kind: str, owner: str, *, new: Account | None = None, old: Account | None = None) -> Change[Any]:
    """A delivery as the change function gets it: documents, not models."""
    return Change[Any](
        id=uuid.uuid4().hex,
        source="portafn://test/tp_accounts",
        type=f"portafn.change.{kind}",
        kind=kind,
        table=accounts.name,
        key={"owner": owner, "account_id": "acc"},
        new=None if new is None else new.model_dump(),
        old=None if old is None else old.model_dump(),
    )


def view(owner: str) -> Summary | None:
    return summaries.get(owner, "acc")


def test_changes_apply_and_move_the_item_checkpoint(store: Store, owner: str) -> None:
    assert summary_view.handle(change("insert", owner, new=account(owner, 1)))
    assert summary_view.handle(change("modify", owner, old=account(owner, 1), new=account(owner, 2)))
    assert view(owner) == Summary(owner=owner, account_id="acc", balance=20, applied=[1, 2])
    assert summary_view.item_position(owner, "acc") == 2


def test_a_duplicate_delivery_applies_nothing(store: Store, owner: str) -> None:
    first = change("insert", owner, new=account(owner, 1))
    assert summary_view.handle(first)
    assert not summary_view.handle(first)
    second = change("modify", owner, new=account(owner, 2))
    assert summary_view.handle(second)
    assert not summary_view.handle(second)
    assert not summary_view.handle(first)
    assert view(owner) == Summary(owner=owner, account_id="acc", balance=20, applied=[1, 2])


def test_an_older_version_after_a_newer_one_is_skipped_and_gaps_are_allowed(store: Store, owner: str) -> None:
    assert summary_view.handle(change("insert", owner, new=account(owner, 3)))  # 1 and 2 coalesced away
    assert not summary_view.handle(change("modify", owner, new=account(owner, 2)))
    assert summary_view.handle(change("modify", owner, new=account(owner, 7)))
    assert not summary_view.handle(change("modify", owner, new=account(owner, 5)))
    assert view(owner) == Summary(owner=owner, account_id="acc", balance=70, applied=[3, 7])
    assert summary_view.item_position(owner, "acc") == 7


def test_a_delete_removes_the_view_once_and_later_older_changes_stay_out(store: Store, owner: str) -> None:
    summary_view.handle(change("insert", owner, new=account(owner, 1)))
    summary_view.handle(change("modify", owner, new=account(owner, 2)))
    removed = change("remove", owner, old=account(owner, 2))
    assert summary_view.handle(removed)
    assert view(owner) is None
    assert summary_view.item_position(owner, "acc") == 3
    assert not summary_view.handle(removed)  # duplicate
    assert not summary_view.handle(change("modify", owner, new=account(owner, 2)))  # late
    assert view(owner) is None
    assert summary_view.handle(change("insert", owner, new=account(owner, 4)))  # re-created, counting on
    assert view(owner) == Summary(owner=owner, account_id="acc", balance=40, applied=[4])


def test_a_delete_reported_by_key_alone_is_applied_unless_nothing_was(store: Store, owner: str) -> None:
    assert not summary_view.handle(change("remove", owner))  # never applied: nothing to remove
    assert summary_view.item_position(owner, "acc") == 0
    summary_view.handle(change("insert", owner, new=account(owner, 5)))
    assert summary_view.handle(change("remove", owner))
    assert view(owner) is None
    assert summary_view.item_position(owner, "acc") == 6


def test_rebuild_clears_the_view_and_applies_every_current_item(store: Store) -> None:
    owners = [f"r-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for n, who in enumerate(owners, 1):
        accounts.put(account(who, n))
        summary_view.handle(change("insert", who, new=account(who, n)))
    summaries.put(Summary(owner=owners[0], account_id="acc", balance=-999, applied=[9, 9]))  # gone wrong
    steps: list[RebuildProgress] = []
    result = rebuild(summary_view, steps.append)
    for n, who in enumerate(owners, 1):
        assert view(who) == Summary(owner=who, account_id="acc", balance=n * 10, applied=[n])
        assert summary_view.item_position(who, "acc") == n
    mine = [s for s in steps if s.stream_id in {f"{who}/acc" for who in owners}]
    assert [s.applied for s in mine] == [1, 1, 1]
    assert steps[-1].done == result.streams >= 3
    assert result.events >= 3


def test_two_projectors_racing_on_one_item_never_apply_a_version_twice_or_go_back(
    store: Store, owner: str
) -> None:
    versions = 12
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def project(seed: int) -> None:
        # Each projector sees the deliveries in its own shuffled order, duplicates included.
        order = [v for v in range(1, versions + 1) for _ in range(2)]
        random.Random(seed).shuffle(order)
        try:
            start.wait()
            for v in order:
                summary_view.handle(change("insert" if v == 1 else "modify", owner, new=account(owner, v)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=project, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    final = view(owner)
    assert final is not None
    assert final.applied == sorted(set(final.applied))  # in order, none twice
    assert final.applied[-1] == versions
    assert final.balance == versions * 10
    assert summary_view.item_position(owner, "acc") == versions


def test_the_change_function_projects_written_items(store: Store, owner: str) -> None:
    from portafn.testing import Client

    client = Client(app)
    accounts.put(account(owner, 1))
    accounts.put(account(owner, 2))
    deliveries = client.deliver_changes()
    assert deliveries.ok, deliveries.errors
    found = view(owner)
    assert found is not None
    assert found.balance == 20
    assert found.applied[-1] == 2  # a coalescing source delivers only version 2


def test_the_change_function_applies_a_delete_the_store_reports(store: Store, owner: str) -> None:
    from portafn.testing import Client

    if not store.capabilities.has(Capability.CHANGE_SOURCE_EVERY_VERSION):
        pytest.skip(
            "this store's change source does not promise removals (Cosmos DB reports none; Firestore's are unordered)"
        )
    client = Client(app)
    accounts.put(account(owner, 1))
    assert client.deliver_changes().ok
    assert view(owner) is not None
    accounts.delete(owner, "acc")
    deliveries = client.deliver_changes()
    assert deliveries.ok, deliveries.errors
    assert view(owner) is None
    assert summary_view.item_position(owner, "acc") == 2
