"""Stores under test: the memory store and the SQLite store on a temporary file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portafn.conformance import Harness
from portafn.store.memory import MemoryStore
from portafn.store.port import Store
from portafn.store.registry import open_store, use_store
from portafn.store.sqlite import SqliteStore

STORE_NAMES = ("memory", "sqlite")


def store_url(name: str, tmp: Path) -> str:
    """The URL of a fresh store of kind ``name`` under ``tmp``."""
    return "memory://" if name == "memory" else f"sqlite:///{tmp / 'conformance.db'}"


@pytest.fixture(scope="session")
def harnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Harness]]:
    """One conformance harness per store, shared by every conformance case, cleared at the end."""
    made: dict[str, Harness] = {}
    for name in STORE_NAMES:
        made[name] = Harness(open_store(store_url(name, tmp_path_factory.mktemp(name))))
    yield made
    for harness in made.values():
        harness.cleanup()
        harness.store.close()


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
