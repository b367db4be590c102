"""Refined capabilities: transactions within one partition, change sources with latest versions only."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import BaseModel

from portafn import App
from portafn.conformance import run
from portafn.store import Capability, Unsupported, transaction
from portafn.store.memory import MemoryStore
from portafn.store.registry import use_store


class OnePartition(MemoryStore):
    """A store whose transactions and change source are as narrow as Cosmos DB's."""

    scheme = "narrow"
    capabilities = replace(
        MemoryStore.capabilities,
        supported=MemoryStore.capabilities.supported
        - {Capability.TRANSACTIONS_ACROSS_PARTITIONS, Capability.CHANGE_SOURCE_EVERY_VERSION},
    )


class Row(BaseModel):
    pk: str
    sk: str


def test_transaction_over_two_partitions_names_the_capability() -> None:
    app = App("scope")
    rows = app.table(Row, partition_key="pk", sort_key="sk")
    with use_store(OnePartition("narrow://")):
        with transaction() as tx:
            tx.put(rows, Row(pk="a", sk="1"))
            tx.put(rows, Row(pk="a", sk="2"))
        assert len(rows.query("a").items) == 2

        def two_partitions() -> None:
            with transaction() as tx:
                tx.put(rows, Row(pk="a", sk="3"))
                tx.put(rows, Row(pk="b", sk="1"))

        with pytest.raises(Unsupported, match="transactions: across partitions and tables"):
            two_partitions()
        assert rows.get("a", "3") is None


def test_table_requiring_every_version_fails_on_first_use() -> None:
    app = App("scope")
    audit = app.table(
        Row, partition_key="pk", sort_key="sk", requires=[Capability.CHANGE_SOURCE_EVERY_VERSION]
    )
    with use_store(OnePartition("narrow://")), pytest.raises(Unsupported, match="every version"):
        audit.get("a", "1")


def test_conformance_runs_the_narrow_cases_and_checks_the_unclaimed_ones() -> None:
    report = run(OnePartition("narrow://"))
    assert report.ok, report.table()
    by_test = {(r.capability, r.test): r.result for r in report.results}
    assert by_test[("change source", "change_source_latest_version")] == "passed"
    assert by_test[("transactions", "transaction_commits_all")] == "passed"
    assert by_test[("transactions: across partitions and tables", "unclaimed_raises_unsupported")] == "passed"
    assert by_test[("change source: every version and deletes", "unclaimed_raises_unsupported")] == "passed"


def test_tables_are_not_created_when_the_deployment_provides_them(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[str] = []

    class Counting(MemoryStore):
        def ensure_table(self, table: Any) -> None:
            created.append(table.name)
            super().ensure_table(table)

    rows = App("scope").table(Row, partition_key="pk", sort_key="sk")
    deployed = Counting("memory://")
    MemoryStore.ensure_table(deployed, rows.spec)  # as the provider template would have
    monkeypatch.setenv("PORTAFN_CREATE_TABLES", "0")
    with use_store(deployed):
        assert rows.get("a", "1") is None
    assert created == []
    monkeypatch.delenv("PORTAFN_CREATE_TABLES")
    with use_store(Counting("memory://")):
        rows.get("a", "1")
    assert created == ["rows"]
