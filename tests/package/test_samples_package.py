"""The samples package for every provider, within the providers' limits (issue 10's CI promise),
with what each needs deployed in the artifact and its template."""

from __future__ import annotations

import json
import re
import shlex
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from portafn_aws.package import STREAM_ACTIONS

from portafn.package import PackageResult
from tests.package.conftest import SampleBuilds, artifact


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_ingest_sample_packages(provider: str, ingest_builds: Callable[[str], PackageResult]) -> None:
    result = ingest_builds(provider)
    zips = [a.path for a in result.artifacts if a.path.suffix == ".zip"]
    assert zips, [a.path.name for a in result.artifacts]
    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
    # The user's code travels with the artifact, and the report says the size against the limits.
    assert any(n.endswith("samples/ingest/app.py") for n in names), names[:20]
    report = json.loads((result.out / "package-report.json").read_text())
    assert report["provider"] == provider
    for a in report["artifacts"]:
        if a["limit_zipped_bytes"] is not None:
            assert 0 < a["zipped_bytes"] <= a["limit_zipped_bytes"], a


# -- the bank sample: command -> event -> view, with its projectors in every artifact ----------------

PROJECTORS = ("portafn_project_balances", "portafn_project_activity")


def _within_limits(result: PackageResult, provider: str) -> None:
    report = json.loads((result.out / "package-report.json").read_text())
    assert report["provider"] == provider
    for a in report["artifacts"]:
        if a["limit_zipped_bytes"] is not None:
            assert 0 < a["zipped_bytes"] <= a["limit_zipped_bytes"], a


def _statements(template: dict[str, Any], fn: str) -> dict[tuple[str, ...], list[Any]]:
    role = template["Resources"][fn + "Role"]["Properties"]
    return {
        tuple(s["Action"]): s["Resource"] for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]
    }


def _tables(statements: dict[tuple[str, ...], list[Any]]) -> set[str]:
    return {
        r["Fn::GetAtt"][0] for acts, rs in statements.items() if acts[0].startswith("dynamodb:") for r in rs
    }


def test_bank_packages_for_lambda_with_its_stream_projectors(sample_builds: SampleBuilds) -> None:
    result = sample_builds("bank", "aws")
    _within_limits(result, "aws")
    with zipfile.ZipFile(artifact(result, "lambda.zip")) as zf:
        names = set(zf.namelist())
    assert {
        "samples/bank/app.py",
        "portafn/projections/projection.py",
        "portafn/eventstore/stream.py",
    } <= names
    template = json.loads(artifact(result, "template.json").read_text())
    resources = template["Resources"]
    for projector, checkpoints, view in (
        ("PortafnProjectBalances", "BalancesCheckpointsTable", "BankBalancesTable"),
        ("PortafnProjectActivity", "ActivityCheckpointsTable", "BankActivityTable"),
    ):
        props = resources[projector + "Function"]["Properties"]
        [event] = props["Events"].values()
        assert event["Type"] == "DynamoDB"
        assert event["Properties"]["Stream"] == {"Fn::GetAtt": ["AccountsEventsTable", "StreamArn"]}
        assert props["Environment"]["Variables"]["PORTAFN_FUNCTION"] == logical_name(projector)
        grants = _statements(template, projector)
        # Least privilege: the stream it is fed from, the events it reads, its own checkpoints and view.
        assert _tables(grants) == {"AccountsEventsTable", checkpoints, view}
        assert grants[("dynamodb:Query",)] == [{"Fn::GetAtt": ["AccountsEventsTable", "Arn"]}]
        assert {"Fn::GetAtt": ["AccountsEventsTable", "StreamArn"]} in grants[STREAM_ACTIONS]
    for command in ("OpenAccount", "Deposit", "Withdraw"):
        assert _tables(_statements(template, command)) == {"AccountsEventsTable", "AccountsSnapshotsTable"}
    assert _tables(_statements(template, "GetBalance")) == {"BankBalancesTable"}
    assert _statements(template, "GetBalance")[("dynamodb:GetItem",)] == [
        {"Fn::GetAtt": ["BankBalancesTable", "Arn"]}
    ]


def logical_name(projector: str) -> str:
    """``PortafnProjectBalances`` -> ``portafn_project_balances``."""
    return "_".join(part.lower() for part in re.findall(r"[A-Z][a-z]*", projector))


def test_bank_packages_for_azure_with_its_change_feed_projectors(sample_builds: SampleBuilds) -> None:
    result = sample_builds("bank", "azure")
    _within_limits(result, "azure")
    folder = artifact(result, "functionapp")
    assert (folder / "samples" / "bank" / "app.py").is_file()
    assert "samples.bank.app" in (folder / "function_app.py").read_text()
    template = json.loads(artifact(result, "azuredeploy.json").read_text())
    containers = {
        r["properties"]["resource"]["id"]
        for r in template["resources"]
        if r["type"].endswith("/containers") and "DocumentDB" in r["type"]
    }
    # The projections keep their positions in their views' partitions on Cosmos DB: no checkpoint containers.
    assert containers == {"accounts_events", "accounts_snapshots", "bank_balances", "bank_activity", "leases"}


def test_bank_packages_for_gcp_with_its_document_event_projectors(sample_builds: SampleBuilds) -> None:
    from portafn_gcp.package import DATASTORE_ROLE, identities

    from samples.bank.app import app

    result = sample_builds("bank", "gcp")
    _within_limits(result, "gcp")
    source = artifact(result, "source")
    assert (source / "samples" / "bank" / "app.py").is_file()
    assert "samples.bank.app" in (source / "main.py").read_text()
    script = artifact(result, "deploy.sh").read_text()
    for projector in PROJECTORS:
        [deploy] = [shlex.split(line) for line in script.splitlines() if f"--entry-point={projector}" in line]
        assert "--trigger-event-filters=type=google.cloud.firestore.document.v1.written" in deploy
        assert "--trigger-event-filters-path-pattern=document=accounts_events/{doc}" in deploy
        assert "--retry" in deploy
    # Every function reaches Firestore, the projectors and commands through the library.
    assert all(DATASTORE_ROLE in i.project_roles for i in identities(app)), identities(app)
