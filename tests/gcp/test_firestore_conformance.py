"""``portafn conformance`` against Google's Firestore emulator: every claimed capability passes,
every unclaimed one raises ``Unsupported``; the emulator's TTL gap is reported, not hidden."""

from __future__ import annotations

import pytest

from portafn.dev.servers import RunningServer


@pytest.mark.slow
def test_firestore_passes_the_conformance_suite(firestore_server: RunningServer) -> None:
    from portafn.conformance.runner import run

    assert firestore_server.store_url is not None
    report = run(firestore_server.store_url)
    failed = [f"{r.test}: {r.detail}" for r in report.results if r.result == "failed"]
    assert not failed, report.table()
    gaps = {r.capability for r in report.results if r.result == "local gap"}
    assert gaps == {"ttl"}, report.table()
    assert report.counts()["passed"] >= 25
