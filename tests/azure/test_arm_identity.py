"""The ARM template deploys with a managed identity and no account keys (issue 15, item 5).

The app gets a system-assigned identity; the host's storage is identity-based
(``AzureWebJobsStorage__accountName``) with the storage roles its blob and queue triggers need;
the Cosmos DB trigger and the portafn store reach Cosmos DB through data plane RBAC (the built-in
Data Contributor) scoped to the ``portafn`` database; Event Grid publishing uses
``EventGridConnection__topicEndpointUri`` with EventGrid Data Sender on the topic.
"""

from __future__ import annotations

import json
import re
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pytest
from portafn_azure.entry import function_app
from portafn_azure.package import COSMOS_DATA_CONTRIBUTOR, STORAGE_ROLES, arm_template, glibc

from portafn.app import App
from portafn.package.build import BuildContext
from portafn.package.wheels import make_target
from samples.ingest.app import app as ingest_app
from samples.orders.app import app as orders_app
from tests.package.test_azure import _grid_app

PYTHON = "3.11"
SITE = "[resourceId('Microsoft.Web/sites', parameters('appName'))]"
PRINCIPAL = "[reference(resourceId('Microsoft.Web/sites', parameters('appName')), '2023-12-01', 'full').identity.principalId]"


def template_for(app: App, tmp_path: Path) -> dict[str, Any]:
    ctx = BuildContext(
        app=app,
        module="app",
        attr="app",
        target=make_target(PYTHON, "x86_64", glibc(PYTHON)),
        out=tmp_path,
        work=tmp_path,
        site=tmp_path,
        source=[],
        installed=[],
        wheels=[],
        progress=lambda line: None,
    )
    return arm_template(ctx)


def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["resources"] if r["type"] == kind]


def settings_of(template: dict[str, Any]) -> dict[str, str]:
    [site] = of_type(template, "Microsoft.Web/sites")
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


@pytest.mark.parametrize("app", [orders_app, ingest_app, _grid_app()], ids=["orders", "ingest", "grid"])
def test_no_account_key_reaches_the_template(app: App, tmp_path: Path) -> None:
    text = json.dumps(template_for(app, tmp_path))
    for secret in ("listKeys", "AccountKey", "primaryMasterKey", "PORTAFN_COSMOS_KEY", "EventGridTopicKey"):
        assert secret not in text, secret


def test_the_app_has_a_system_assigned_identity_and_identity_based_connections(tmp_path: Path) -> None:
    template = template_for(orders_app, tmp_path)
    [site] = of_type(template, "Microsoft.Web/sites")
    assert site["identity"] == {"type": "SystemAssigned"}
    settings = settings_of(template)
    assert settings["AzureWebJobsStorage__accountName"] == "[variables('storageName')]"
    assert "AzureWebJobsStorage" not in settings
    assert settings["CosmosDBConnection__accountEndpoint"] == (
        "[reference(resourceId('Microsoft.DocumentDB/databaseAccounts', variables('cosmosName')), "
        "'2024-05-15').documentEndpoint]"
    )
    [account] = of_type(template, "Microsoft.DocumentDB/databaseAccounts")
    assert account["properties"]["disableLocalAuth"] is True


def test_cosmos_data_plane_rbac_is_scoped_to_the_database(tmp_path: Path) -> None:
    template = template_for(orders_app, tmp_path)
    [assignment] = of_type(template, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    props = assignment["properties"]
    assert COSMOS_DATA_CONTRIBUTOR == "00000000-0000-0000-0000-000000000002"  # built-in Data Contributor
    assert props["roleDefinitionId"].endswith(f"variables('cosmosName'), '{COSMOS_DATA_CONTRIBUTOR}')]")
    assert props["scope"] == (
        "[format('{0}/dbs/portafn', resourceId('Microsoft.DocumentDB/databaseAccounts', variables('cosmosName')))]"
    )
    assert props["principalId"] == PRINCIPAL
    assert SITE in assignment["dependsOn"]
    # The database the scope names is the one PORTAFN_STORE and the trigger use.
    assert settings_of(template)["PORTAFN_STORE"].endswith(
        "documents.azure.com/portafn', variables('cosmosName'))]"
    )


def test_storage_roles_are_granted_on_the_apps_account_only(tmp_path: Path) -> None:
    template = template_for(orders_app, tmp_path)
    assignments = of_type(template, "Microsoft.Authorization/roleAssignments")
    roles = {a["properties"]["roleDefinitionId"].split("'")[-2]: a for a in assignments}
    assert set(roles) == set(STORAGE_ROLES.values())
    for assignment in assignments:
        assert (
            assignment["scope"]
            == "[format('Microsoft.Storage/storageAccounts/{0}', variables('storageName'))]"
        )
        assert assignment["properties"]["principalId"] == PRINCIPAL
        assert assignment["properties"]["principalType"] == "ServicePrincipal"
    # Deterministic, distinct names: redeploying updates the same assignments.
    assert len({a["name"] for a in assignments}) == len(assignments)


def test_every_expression_is_balanced_and_every_dependency_is_declared(tmp_path: Path) -> None:
    template = template_for(_grid_app(), tmp_path)
    declared = {r["type"] for r in template["resources"]}
    for value in _strings(template):
        if value.startswith("["):
            assert value.endswith("]"), value
            body = re.sub(r"'[^']*'", "''", value[1:-1])
            assert body.count("(") == body.count(")"), value
    for resource in template["resources"]:
        for dep in resource.get("dependsOn", []):
            kind = dep.split("'")[1]
            assert kind in declared, (resource["type"], dep)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_an_identity_based_cosmos_trigger_does_not_create_its_lease_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def lease_flag() -> Any:
        fn = next(
            f for f in function_app(orders_app).get_functions() if f.get_function_name() == "on_order_change"
        )
        trigger = json.loads(fn.get_function_json())["bindings"][0]
        assert trigger["connection"] == "CosmosDBConnection"
        return trigger["createLeaseContainerIfNotExists"]

    assert lease_flag() is True  # a key-based connection (local development) may create it
    monkeypatch.setenv(
        "CosmosDBConnection__accountEndpoint", "https://orders-cosmos.documents.azure.com:443/"
    )
    assert lease_flag() is False  # data plane RBAC cannot create containers; the template does


def test_the_adapter_ships_azure_identity() -> None:
    # DefaultAzureCredential signs the store and ctx.publish in with the managed identity.
    assert any(r.startswith("azure-identity") for r in requires("portafn-azure") or [])
