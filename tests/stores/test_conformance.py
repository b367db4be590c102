"""The public conformance suite against the memory and SQLite stores: one pytest test per case."""

from __future__ import annotations

import pytest

from portafn.conformance import Harness, Planned, execute, plan
from portafn.store.registry import store_class
from tests.stores.conftest import STORE_NAMES

ROWS = [
    pytest.param(name, row, id=f"{name}-{row.id}")
    for name in STORE_NAMES
    for row in plan(store_class(f"{name}://").capabilities)
]


@pytest.mark.parametrize(("store_name", "row"), ROWS)
def test_conformance(store_name: str, row: Planned, harnesses: dict[str, Harness]) -> None:
    if row.mode == "gap":
        pytest.skip(f"local gap: {row.reason}")
    result = execute(harnesses[store_name], row)
    assert result.result == "passed", f"{row.description}: {result.detail}"


def test_local_stores_claim_every_capability() -> None:
    # The embedded stores are the reference: they run every case, none is left as "unclaimed".
    for name in STORE_NAMES:
        rows = plan(store_class(f"{name}://").capabilities)
        assert all(r.mode == "run" for r in rows)
        assert len(rows) >= 29
