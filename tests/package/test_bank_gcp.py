"""The bank sample's built Cloud Functions source under the ``functions-framework`` CLI: the HTTP
target and each projector target as servers of their own, all on one SQLite file.

The test reads the events collection's pending changes and sends each projector the Firestore
``document.v1.written`` CloudEvents that the writes would raise: to the balances projector in JSON
(binary mode), to the activity projector as ``application/protobuf`` ``DocumentEventData``, the
form Eventarc delivers Firestore events in by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portafn_gcp.events import change_to_cloudevent

from portafn.changes import pending_changes
from portafn.cloudevents import from_dict, to_binary
from portafn.events import Change
from portafn.package import PackageResult
from portafn.store.registry import open_store, use_store
from samples.bank.app import accounts
from tests.package.conftest import SampleBuilds, artifact
from tests.package.functions_framework import install_site, request, serve

pytestmark = pytest.mark.emulator

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def built(sample_builds: SampleBuilds) -> PackageResult:
    """The bank sample's Cloud Functions source for this machine's Python."""
    return sample_builds("bank", "gcp")


@pytest.fixture(scope="module")
def site(built: PackageResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source's dependencies, from its own ``requirements.txt``."""
    return install_site(artifact(built, "source"), tmp_path_factory.mktemp("bank-gcp-site"))


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """One SQLite file that every target's server and this test open."""
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    with use_store(open_store(url)):
        yield url


def _written(change: Change[Any]) -> dict[str, Any]:
    spec = accounts.table.spec
    return change_to_cloudevent(change, partition_key=spec.partition_key, sort_key=spec.sort_key)


def _as_protobuf(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent carrying ``DocumentEventData`` as protobuf, as Eventarc sends it."""
    from google.events.cloud.firestore_v1 import DocumentEventData

    data = DocumentEventData.serialize(DocumentEventData.from_json(json.dumps(event["data"])))
    headers, _ = to_binary(from_dict({**event, "data": None, "datacontenttype": "application/protobuf"}))
    return {**headers, "content-type": "application/protobuf"}, data


def test_the_bank_source_runs_commands_and_its_projectors_under_functions_framework(
    built: PackageResult, site: Path, store_url: str
) -> None:
    source = artifact(built, "source")
    http, port = serve(source, site, "http", store_url)
    balances, balances_port = serve(source, site, "portafn_project_balances", store_url)
    activity, activity_port = serve(source, site, "portafn_project_activity", store_url)
    base = f"http://127.0.0.1:{port}"

    def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        status, headers, answer = request(base + path, json.dumps(body).encode(), JSON)
        return status, headers, json.loads(answer)

    with http, balances, activity:
        assert post("/accounts", {"account_id": "a-1", "owner": "ada"})[0] == 201
        status, _, receipt = post("/accounts/a-1/deposits", {"amount_cents": 1000})
        assert (status, receipt["balance_cents"]) == (200, 1000)
        status, headers, problem = post("/accounts/a-1/withdrawals", {"amount_cents": 1500})
        assert (status, headers["content-type"]) == (409, "application/problem+json")
        assert (problem["type"], problem["balance_cents"], problem["requested_cents"]) == (
            "/problems/insufficient-funds",
            1000,
            1500,
        )
        status, _, receipt = post("/accounts/a-1/withdrawals", {"amount_cents": 300})
        assert (status, receipt["balance_cents"], receipt["version"]) == (200, 700, 3)
        assert request(base + "/accounts/a-1")[0] == 404  # nothing projected yet

        changes = [change for change, _ in pending_changes(accounts.table, None) if change is not None]
        assert [c.kind for c in changes] == ["insert"] * 3
        for change in changes:
            headers, body = to_binary(from_dict(_written(change)))
            assert request(f"http://127.0.0.1:{balances_port}/", body, headers)[0] == 200
            headers, body = _as_protobuf(_written(change))
            assert request(f"http://127.0.0.1:{activity_port}/", body, headers)[0] == 200

        status, _, view = request(base + "/accounts/a-1")
        assert (status, json.loads(view)) == (
            200,
            {"account_id": "a-1", "owner": "ada", "balance_cents": 700, "version": 3},
        )
        status, _, lines = request(base + "/accounts/a-1/activity")
    assert status == 200
    assert [(li["version"], li["kind"], li["amount_cents"]) for li in json.loads(lines)["items"]] == [
        (2, "deposited", 1000),
        (3, "withdrawn", 300),
    ]
