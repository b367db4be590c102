"""The store conformance suite against DynamoDB Local: every case passes, gaps are declared.

Each case of ``portafn.conformance`` runs as its own test, on one harness (one set of tables)
for the session. DynamoDB Local cannot show TTL expiry (it never deletes expired items), so the
store declares that as a local gap of the TTL capability: claimed, and shown as a gap in reports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from portafn_aws.dynamodb_store import TTL_LOCAL_GAP, DynamoDBStore

from portafn.conformance.cases import CASES, Case
from portafn.conformance.harness import Harness
from portafn.dev.servers import RunningServer
from portafn.store.capabilities import Capability
from portafn.store.registry import open_store, use_store


@pytest.fixture(scope="module")
def harness(dynamodb_server: RunningServer) -> Iterator[Harness]:
    assert dynamodb_server.store_url is not None
    store = open_store(dynamodb_server.store_url + "&prefix=conf-")
    assert isinstance(store, DynamoDBStore)
    h = Harness(store)
    yield h
    h.cleanup()
    store.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance_case(harness: Harness, case: Case) -> None:
    if case.capability is not None:
        assert harness.claims(case.capability), f"DynamoDB claims every capability; {case.capability}"
    with use_store(harness.store):
        case.fn(harness)


def test_every_capability_is_claimed_and_ttl_expiry_is_a_declared_local_gap(harness: Harness) -> None:
    caps = harness.store.capabilities
    assert caps.supported == frozenset(Capability)
    assert dict(caps.local_gaps) == {Capability.TTL: TTL_LOCAL_GAP}
    assert (caps.max_transaction_items, caps.batch_write_size, caps.batch_get_size) == (100, 25, 100)


def test_a_cloud_endpoint_declares_no_local_gap() -> None:
    store = DynamoDBStore("dynamodb://?region=eu-west-1")
    assert store.capabilities.local_gaps == {}
    assert store._clients == {}  # nothing connects until first use
