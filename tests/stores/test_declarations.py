"""What each store declares, read without a server: the cloud services' capabilities and limits,
and the local gaps a loopback endpoint adds. (``test_conformance.py`` proves the declarations.)"""

from __future__ import annotations

from portafn_aws.dynamodb_store import TTL_LOCAL_GAP, DynamoDBStore
from portafn_azure.cosmos_store import LOCAL_GAPS, CosmosStore
from portafn_gcp.firestore_store import FirestoreStore

from portafn.store.capabilities import ALL, Capability
from portafn.store.memory import MemoryStore
from portafn.store.sqlite import SqliteStore


def test_the_embedded_stores_claim_all_but_attached_documents() -> None:
    # Their transactions span partitions and tables, so nothing needs attaching.
    for cls in (MemoryStore, SqliteStore):
        assert cls.capabilities.supported == ALL - {Capability.ATTACHED_DOCUMENTS}
        assert cls.capabilities.local_gaps == {}


def test_dynamodb_claims_every_capability_but_attached_documents() -> None:
    caps = DynamoDBStore.capabilities
    assert caps.supported == ALL - {Capability.ATTACHED_DOCUMENTS}
    assert (caps.max_transaction_items, caps.batch_write_size, caps.batch_get_size) == (100, 25, 100)


def test_dynamodb_local_declares_the_ttl_gap_and_a_cloud_endpoint_none() -> None:
    local = DynamoDBStore("dynamodb://?region=eu-west-1&endpoint=http://127.0.0.1:8000")
    assert dict(local.capabilities.local_gaps) == {Capability.TTL: TTL_LOCAL_GAP}
    cloud = DynamoDBStore("dynamodb://?region=eu-west-1")
    assert cloud.capabilities.local_gaps == {}
    assert not cloud._clients  # nothing connects until first use


def test_cosmos_declares_the_cloud_service() -> None:
    caps = CosmosStore.capabilities
    assert caps.has(Capability.TRANSACTIONS)
    assert caps.has(Capability.CHANGE_SOURCE)
    assert caps.has(Capability.ATTACHED_DOCUMENTS)
    assert not caps.has(Capability.TRANSACTIONS_ACROSS_PARTITIONS)
    assert not caps.has(Capability.CHANGE_SOURCE_EVERY_VERSION)
    assert caps.local_gaps == {}
    assert (caps.max_transaction_items, caps.max_item_bytes) == (100, 2 * 1024 * 1024)
    assert CosmosStore("cosmos://myaccount/db").capabilities == caps
    assert set(LOCAL_GAPS) <= caps.supported


def test_firestore_declares_the_emulator_ttl_gap() -> None:
    caps = FirestoreStore.capabilities
    assert not caps.has(Capability.ATTACHED_DOCUMENTS)
    assert set(caps.local_gaps) == {Capability.TTL}
