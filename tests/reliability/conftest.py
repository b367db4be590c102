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
    """The outbox app, on stores whose transactions can join an outbox record to a write in another
    table. On the others (Cosmos DB's stay in one partition) it checks the other side instead, that
    the outbox is refused, statically and on use, with ``Unsupported`` naming the capability, and
    skips saying so."""
    from portafn.capcheck import check
    from portafn.store.capabilities import Capability
    from portafn.store.errors import Unsupported
    from portafn.store.registry import use_store
    from tests.reliability.outbox_app import outbox, outbox_app

    needed = Capability.TRANSACTIONS_ACROSS_PARTITIONS
    store = portafn_store
    if not store.capabilities.has(needed):
        gaps = check(outbox_app, store.capabilities)
        assert any(g.table == outbox.table.name and g.capability is needed for g in gaps), gaps
        with use_store(store), pytest.raises(Unsupported, match=needed.value):
            list(outbox.pending())
        pytest.skip(
            f"{store.name} does not declare {needed.value!r}, which the outbox needs (checked: it is "
            "refused with Unsupported); docs/reliability.md shows the change-source alternative"
        )
    return outbox_app
