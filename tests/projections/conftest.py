"""Fixtures every projection test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portafn.store.port import Store
from portafn.store.registry import use_store


@pytest.fixture
def store(portafn_store: Store) -> Iterator[Store]:
    """The selected store, current for this test and the threads it starts."""
    with use_store(portafn_store, follow_threads=True):
        yield portafn_store
