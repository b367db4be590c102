"""``portafn conformance`` against @vercel/cosmosdb-server behind its fidelity proxy, one test per case.

The plan comes from ``CosmosStore.capabilities`` (the cloud's declaration) plus the local gaps a
loopback instance adds: every claimed capability's cases run, every unclaimed one (transactions
across partitions, every-version change source) is checked to raise ``Unsupported`` naming the
store and the capability, and a local gap shows as an xfail with its reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from portafn_azure.cosmos_store import LOCAL_GAPS, CosmosStore

from portafn.conformance import Harness, Planned, execute, plan
from portafn.dev.servers import RunningServer
from portafn.store.capabilities import Capability

LOCAL = dataclasses.replace(CosmosStore.capabilities, local_gaps=dict(LOCAL_GAPS))
_ROWS = plan(LOCAL)


@pytest.fixture(scope="module")
def harness(cosmos_server: RunningServer) -> Iterator[Harness]:
    assert cosmos_server.store_url is not None
    store = CosmosStore(cosmos_server.store_url)
    assert store.capabilities == LOCAL, "the planned rows are the local instance's declaration"
    h = Harness(store)
    yield h
    h.cleanup()
    store.close()


def test_class_declares_the_cloud_service() -> None:
    caps = CosmosStore.capabilities
    assert caps.has(Capability.TRANSACTIONS)
    assert caps.has(Capability.CHANGE_SOURCE)
    assert not caps.has(Capability.TRANSACTIONS_ACROSS_PARTITIONS)
    assert not caps.has(Capability.CHANGE_SOURCE_EVERY_VERSION)
    assert caps.local_gaps == {}
    assert (caps.max_transaction_items, caps.max_item_bytes) == (100, 2 * 1024 * 1024)
    cloud = CosmosStore("cosmos://myaccount/db")
    assert cloud.capabilities == caps


@pytest.mark.parametrize("row", _ROWS, ids=[r.id for r in _ROWS])
def test_conformance(harness: Harness, row: Planned) -> None:
    result = execute(harness, row)
    if result.result == "local gap":
        pytest.xfail(f"local gap: {result.detail}")  # shown as xfail with its reason, never a silent skip
    assert result.result == "passed", result.detail
