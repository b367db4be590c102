"""A fresh embedded store per test (memory, and SQLite on a temporary file). The conformance
runner takes its stores from the portafn plugin instead (``--portafn-stores``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portafn.store.memory import MemoryStore
from portafn.store.port import Store
from portafn.store.registry import use_store
from portafn.store.sqlite import SqliteStore

STORE_NAMES = ("memory", "sqlite")


@pytest.fixture(params=STORE_NAMES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each kind, current for the test."""
    s: Store = (
        MemoryStore("memory://")
        if request.param == "memory"
        else SqliteStore(f"sqlite:///{tmp_path / 't.db'}")
    )
    with use_store(s):
        yield s
    s.close()
