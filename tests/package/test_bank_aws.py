"""The bank sample's Lambda zip under the real ``awslambdaric`` bootstrap: each function in its own
runtime process (``PORTAFN_FUNCTION``, as the SAM template deploys them), all on one SQLite file.

SQLite, not memory: every function is its own process, so only a file store is shared by them and
by this test, which reads the events table's pending changes to build the DynamoDB Streams batch
the projector is invoked with (the same ``Records`` shape the AWS driver sends in the contract suite).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portafn_aws.driver import AwsDriver

from portafn.changes import pending_changes
from portafn.store.registry import open_store, use_store
from portafn.triggers import HttpTrigger
from samples.bank.app import accounts, app
from tests.package.conftest import SampleBuilds, artifact
from tests.package.lambda_runtime import bootstrap, extract, http_event

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def lambda_root(sample_builds: SampleBuilds, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The bank's zip extracted into a /var/task stand-in, with a /var/runtime stand-in beside it."""
    built = sample_builds("bank", "aws")
    return extract(artifact(built, "lambda.zip"), tmp_path_factory.mktemp("bank-lambda"))


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """One SQLite file that every function process and this test open."""
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    with use_store(open_store(url)):
        yield url


def _call(root: tuple[Path, Path], store: str, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """One invocation of ``function`` in a fresh runtime process; the response it posted."""
    with bootstrap(*root, app.name, function, store) as api:
        request_id = api.invoke(event)
        outcome = api.outcome(timeout=60)
    assert (outcome.request_id, outcome.kind) == (request_id, "response"), outcome.body
    answer: dict[str, Any] = outcome.body
    return answer


def _http(
    root: tuple[Path, Path], store: str, function: str, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    trigger = app.functions[function].trigger
    assert isinstance(trigger, HttpTrigger)
    out = _call(root, store, function, http_event(method, trigger.path.template, path, body))
    headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
    return out["statusCode"], headers, json.loads(out["body"]) if out.get("body") else None


def test_the_bank_zip_runs_commands_and_its_projector_under_awslambdaric(
    lambda_root: tuple[Path, Path], store_url: str
) -> None:
    def http(function: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        return _http(lambda_root, store_url, function, method, path, body)

    status, headers, receipt = http(
        "open_account", "POST", "/accounts", {"account_id": "a-1", "owner": "ada"}
    )
    assert (status, headers.get("location"), receipt["version"]) == (201, "/accounts/a-1", 1)
    status, _, receipt = http("deposit", "POST", "/accounts/a-1/deposits", {"amount_cents": 1000})
    assert (status, receipt["balance_cents"]) == (200, 1000)

    # The aggregate, rehydrated from its stream in the withdraw function's process, refuses.
    status, headers, problem = http("withdraw", "POST", "/accounts/a-1/withdrawals", {"amount_cents": 1500})
    assert (status, headers.get("content-type")) == (409, "application/problem+json")
    assert (problem["type"], problem["balance_cents"], problem["requested_cents"]) == (
        "/problems/insufficient-funds",
        1000,
        1500,
    )
    status, _, receipt = http("withdraw", "POST", "/accounts/a-1/withdrawals", {"amount_cents": 300})
    assert (status, receipt["balance_cents"], receipt["version"]) == (200, 700, 3)
    assert http("get_balance", "GET", "/accounts/a-1")[0] == 404  # no event projected yet

    # The events table's three inserts, as one DynamoDB Streams batch to the balances projector.
    projector = app.functions["portafn_project_balances"]
    native = AwsDriver(app).native
    changes = [change for change, _ in pending_changes(accounts.table, None) if change is not None]
    assert [c.kind for c in changes] == ["insert"] * 3
    batch = {"Records": [r for c in changes for r in native(projector, c)["Records"]]}
    assert {r["eventSource"] for r in batch["Records"]} == {"aws:dynamodb"}
    result = _call(lambda_root, store_url, projector.name, batch)
    assert not (result or {}).get("batchItemFailures"), result

    status, _, view = http("get_balance", "GET", "/accounts/a-1")
    assert (status, view) == (200, {"account_id": "a-1", "owner": "ada", "balance_cents": 700, "version": 3})
