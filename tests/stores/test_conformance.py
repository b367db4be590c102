"""The store conformance suite, one pytest test per case, on every store ``--portafn-stores`` selects
(the ini default is memory,sqlite; ``scripts/test`` adds dynamodb, cosmos and firestore).

One gap policy for every store: a case of a claimed capability runs and must pass; a case of a
claimed capability the store declares a local gap for (``Capabilities.local_gaps``) is an xfail with
that reason; a case of an unclaimed capability becomes the check that using the capability raises
``Unsupported`` naming the store and the capability.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portafn.conformance import CASES, Case, Harness, execute, plan_case
from portafn.store.capabilities import Capability
from portafn.store.port import Store


@pytest.fixture(scope="session")
def _harnesses(_portafn_stores: dict[str, Any]) -> Iterator[dict[int, Harness]]:
    # Depends on the plugin's store cache, so these tables are cleared before the stores close.
    made: dict[int, Harness] = {}
    yield made
    for harness in made.values():
        harness.cleanup()


@pytest.fixture
def harness(portafn_store: Store, _harnesses: dict[int, Harness]) -> Harness:
    """One harness (one set of tables) per store for the session."""
    return _harnesses.setdefault(id(portafn_store), Harness(portafn_store))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(harness: Harness, case: Case) -> None:
    row = plan_case(harness.store.capabilities, case)
    if row.mode == "gap":
        pytest.xfail(f"local gap of {harness.store.name}: {row.reason}")  # declared, shown, never silent
    result = execute(harness, row)
    assert result.result == "passed", f"{row.description}: {result.detail}"


def test_local_gaps_are_claimed_capabilities(portafn_store: Store) -> None:
    caps = portafn_store.capabilities
    assert set(caps.local_gaps) <= caps.supported, "a local gap is of a capability the store claims"
    assert all(why.strip() for why in caps.local_gaps.values()), "every local gap says why"


def test_every_capability_has_a_case_and_an_unclaimed_check() -> None:
    from portafn.conformance import UNCLAIMED

    assert {c.capability for c in CASES if c.capability is not None} == set(Capability)
    assert set(UNCLAIMED) == set(Capability)
