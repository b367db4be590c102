"""Packaging emits the app's settings and secrets: SAM, ARM and deploy.sh, with access to exactly them.

Static checks of the generated deployment: which names and references each carries, and that the
grants name exactly the declared secrets. No value appears anywhere (values are never known here).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import pytest
from portafn_aws.package import sam_template
from portafn_azure.package import arm_template
from portafn_gcp import package as gcp
from pydantic import BaseModel, SecretStr

from portafn import App, HttpRequest, Message, Secret
from portafn.package.build import BuildContext
from portafn.package.wheels import Target

PYTHON = "3.12"


class Config(BaseModel):
    api_url: str
    page_size: int = 50
    api_key: Annotated[SecretStr, Secret("shop-api-key")]
    db_password: Annotated[SecretStr, Secret("shop-db-password", kind="parameter")]


app = App("shop")
config = app.settings(Config)


@app.http("GET", "/ping")
def ping(request: HttpRequest) -> str:
    return "pong"


@app.queue("jobs")
def job(msg: Message[Any]) -> None: ...


def context(tmp_path: Path) -> BuildContext:
    return BuildContext(
        app=app,
        module="tests.package.test_settings_emitted",
        attr="app",
        target=Target(PYTHON, "x86_64"),
        out=tmp_path,
        work=tmp_path,
        site=tmp_path,
        source=[],
        installed=[],
        wheels=[],
        progress=lambda line: None,
    )


def test_sam_passes_required_settings_and_grants_exactly_the_secrets(tmp_path: Path) -> None:
    template = sam_template(context(tmp_path))
    assert template["Parameters"] == {
        "SettingApiUrl": {"Type": "String", "Description": "setting api_url (API_URL)"}
    }
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == 2
    for fn in functions.values():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["API_URL"] == {"Ref": "SettingApiUrl"}
        assert "PAGE_SIZE" not in variables  # has a default: not a deployment parameter
        assert "API_KEY" not in variables  # read from Secrets Manager at run time, never in the template
        role = template["Resources"][fn["Properties"]["Role"]["Fn::GetAtt"][0]]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        secret_reads = {
            tuple(s["Action"]): s["Resource"]
            for s in statements
            if any(a.startswith(("secretsmanager:", "ssm:")) for a in s["Action"])
        }
        assert secret_reads == {
            ("secretsmanager:GetSecretValue",): [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:shop-api-key-??????"
                }
            ],
            ("ssm:GetParameter",): [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/shop-db-password"
                }
            ],
        }


def test_arm_carries_key_vault_references_read_by_the_managed_identity(tmp_path: Path) -> None:
    template = arm_template(context(tmp_path))
    assert set(template["parameters"]) >= {"keyVaultName", "setting_API_URL"}
    site = next(r for r in template["resources"] if r["type"] == "Microsoft.Web/sites")
    assert site["identity"] == {"type": "SystemAssigned"}
    settings = {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}
    assert settings["API_URL"] == "[parameters('setting_API_URL')]"
    assert settings["API_KEY"] == (
        "[format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', parameters('keyVaultName'), 'shop-api-key')]"
    )
    assert "shop-db-password" in settings["DB_PASSWORD"]
    assert "PAGE_SIZE" not in settings
    # The identity's other grants (storage, Cosmos data plane) are the identity tests'; these are the vault's.
    grants = [
        r
        for r in template["resources"]
        if r["type"] == "Microsoft.Authorization/roleAssignments" and "KeyVault" in r["scope"]
    ]
    scopes = sorted(g["scope"] for g in grants)
    assert scopes == [
        f"[format('Microsoft.KeyVault/vaults/{{0}}/secrets/{{1}}', parameters('keyVaultName'), '{n}')]"
        for n in ("shop-api-key", "shop-db-password")
    ]
    for grant in grants:
        assert grant["properties"]["roleDefinitionId"].endswith("'4633458b-17de-408a-b874-0445c86b69e6')]")
        assert "identity.principalId" in grant["properties"]["principalId"]


def test_deploy_sh_sets_secrets_and_grants_each_account_exactly_them(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    commands = gcp.deploy_commands(ctx)
    deploys = [argv for argv in commands if argv[1:3] == ["functions", "deploy"]]
    assert len(deploys) == 2
    for argv in deploys:
        assert "--set-secrets=API_KEY=shop-api-key:latest,DB_PASSWORD=shop-db-password:latest" in argv
        env = next(a for a in argv if a.startswith("--set-env-vars="))
        assert env.endswith(",API_URL=$API_URL")
    grants = [argv for argv in commands if argv[1:3] == ["secrets", "add-iam-policy-binding"]]
    accounts = {i.member for i in gcp.identities(app)}
    assert {(g[3], g[4].removeprefix("--member=")) for g in grants} == {
        (name, member) for name in ("shop-api-key", "shop-db-password") for member in accounts
    }
    assert all(g[5] == "--role=roles/secretmanager.secretAccessor" for g in grants)
    script = gcp.deploy_script(ctx)
    assert ': "${API_URL:?set API_URL, a setting of the app}"' in script
    assert '"--set-env-vars=' in script  # double-quoted: $API_URL expands when it runs


def test_no_settings_no_change(tmp_path: Path) -> None:
    bare = App("bare")

    @bare.http("GET", "/x")
    def x() -> str:
        return "x"

    ctx = context(tmp_path)
    ctx.app = bare
    assert "Parameters" not in sam_template(ctx)
    assert "keyVaultName" not in json.dumps(arm_template(ctx))
    assert not any("--set-secrets" in " ".join(a) for a in gcp.deploy_commands(ctx))


def test_the_sam_template_with_settings_passes_cfn_lint(tmp_path: Path) -> None:
    import subprocess
    import sys

    linter = Path(sys.executable).with_name("cfn-lint")
    if not linter.is_file():
        # CI installs the dev group, so a missing linter there is a broken set-up, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "cfn-lint is not installed next to this interpreter (dev group)"
        )
    path = tmp_path / "template.json"
    path.write_text(json.dumps(sam_template(context(tmp_path))))
    done = subprocess.run([str(linter), str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
