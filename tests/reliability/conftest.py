"""Reliability tests run through the portafn plugin on every selected store (``--portafn-stores``;
memory and sqlite by default), so the same tests later prove the cloud stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portafn import App
from tests.reliability.apps import app, effects


@pytest.fixture
def portafn_app() -> App:
    return app


@pytest.fixture(autouse=True)
def _reset_effects() -> Iterator[None]:
    effects.reset()
    yield
    effects.reset()


@pytest.fixture
def outbox_portafn_app(portafn_store: Any) -> App:
    """The outbox app, on every store: in the outbox table where transactions cross partitions and
    tables, attached to the orders partition each transaction writes where they do not (Cosmos DB)."""
    from tests.reliability.outbox_app import outbox_app

    return outbox_app
