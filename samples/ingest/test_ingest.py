"""The ingest pipeline's contract, on each (provider, store) cell of the matrix."""

from __future__ import annotations

from portafn.testing import Client
from samples.ingest.app import catalogue, tallies


def test_accepted_upload_is_catalogued_and_tallied(portafn_client: Client) -> None:
    dropped = portafn_client.drop(
        "uploads", "acme/2026-11-23/orders batch-1.csv".replace(" ", "_"), size=2048
    )
    assert dropped.ok, dropped.errors
    fanned = portafn_client.deliver_published()  # empty locally: the local bus delivered at once
    assert fanned.ok, fanned.errors
    [record] = catalogue.query("acme").items
    assert (record.key, record.kind, record.size) == ("acme/2026-11-23/orders_batch-1.csv", "csv", 2048)
    tally = tallies.get("acme", "2026-11-23")
    assert tally is not None
    assert (tally.files, tally.bytes) == (1, 2048)


def test_redelivered_upload_counts_once(portafn_client: Client) -> None:
    for _ in range(2):
        assert portafn_client.drop("uploads", "acme/2026-11-23/a.json", size=10).ok
        assert portafn_client.deliver_published().ok
    tally = tallies.get("acme", "2026-11-23")
    assert tally is not None
    assert (tally.files, tally.bytes) == (1, 10)
    assert len(catalogue.query("acme").items) == 1


def test_bad_key_goes_to_dead_letter_and_publishes_nothing(portafn_client: Client) -> None:
    dropped = portafn_client.drop("uploads", "not-a-tenant-path.txt", size=10)
    assert not dropped.ok
    assert dropped.errors == ["DeadLetter"]
    assert len(portafn_client.deliver_published()) == 0
    assert catalogue.query("not-a-tenant-path.txt").items == []


def test_empty_file_is_refused(portafn_client: Client) -> None:
    dropped = portafn_client.drop("uploads", "acme/2026-11-23/empty.csv", size=0)
    assert dropped.errors == ["DeadLetter"]
    assert catalogue.query("acme").items == []
