"""How Azure Functions carries the app's settings and secrets: ARM app settings and Key Vault.

A secret becomes an app setting holding a Key Vault reference
(``@Microsoft.KeyVault(VaultName=...;SecretName=...)``): the platform resolves it with the function
app's system-assigned managed identity and hands the function the value as an environment
variable, so at run time portafn reads it like any setting and this provider declares no resolver.
The identity is granted "Key Vault Secrets User" on exactly each declared secret (a role
assignment scoped to the secret, which needs the vault's Azure RBAC permission model). A required
plain setting becomes a template parameter. The vault is a parameter (``keyVaultName``); the
template does not create it, nor any secret value.
"""

from __future__ import annotations

from typing import Any

from portafn.settings import Declared

# Built-in role "Key Vault Secrets User": read secret contents.
SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6"
AUTH_API = "2022-04-01"
VAULT = "keyVaultName"


def parameter_name(field: Declared) -> str:
    """The template parameter of a required plain setting."""
    return "setting_" + field.env


def reference(field: Declared) -> str:
    """The app setting value that makes the platform fetch ``field``'s secret from the vault."""
    assert field.secret is not None
    return (
        "[format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', "
        f"parameters('{VAULT}'), '{field.secret.name}')]"
    )


def app_settings(fields: list[Declared]) -> list[dict[str, str]]:
    """App settings entries: a Key Vault reference per secret, a parameter per required setting."""
    out = []
    for f in fields:
        if f.secret is not None:
            out.append({"name": f.env, "value": reference(f)})
        elif f.required:
            out.append({"name": f.env, "value": f"[parameters('{parameter_name(f)}')]"})
    return out


def parameters(fields: list[Declared]) -> dict[str, Any]:
    """Template parameters: the vault (when there are secrets) and each required plain setting."""
    out: dict[str, Any] = {}
    if any(f.secret is not None for f in fields):
        out[VAULT] = {"type": "string", "metadata": {"description": "Key Vault holding the app's secrets"}}
    for f in fields:
        if f.secret is None and f.required:
            out[parameter_name(f)] = {"type": "string", "metadata": {"description": f"setting {f.field}"}}
    return out


def role_assignments(fields: list[Declared], site_id: str, web_api: str) -> list[dict[str, Any]]:
    """Key Vault Secrets User for the app's identity, scoped to exactly each declared secret."""
    names = sorted({f.secret.name for f in fields if f.secret is not None})
    principal = f"[reference({site_id}, '{web_api}', 'full').identity.principalId]"
    return [
        {
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": AUTH_API,
            "scope": f"[format('Microsoft.KeyVault/vaults/{{0}}/secrets/{{1}}', parameters('{VAULT}'), '{name}')]",
            "name": f"[guid(parameters('{VAULT}'), '{name}', {site_id}, '{SECRETS_USER_ROLE}')]",
            "dependsOn": [f"[{site_id}]"],
            "properties": {
                "roleDefinitionId": f"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{SECRETS_USER_ROLE}')]",
                "principalId": principal,
                "principalType": "ServicePrincipal",
            },
        }
        for name in names
    ]


def apply(template: dict[str, Any], fields: list[Declared], site_id: str, web_api: str) -> dict[str, Any]:
    """Add the settings to an ARM template: parameters, app settings, identity, role assignments."""
    if not fields:
        return template
    template["parameters"].update(parameters(fields))
    site = next(r for r in template["resources"] if r["type"] == "Microsoft.Web/sites")
    site["properties"]["siteConfig"]["appSettings"].extend(app_settings(fields))
    if any(f.secret is not None for f in fields):
        site.setdefault("identity", {"type": "SystemAssigned"})
        template["resources"].extend(role_assignments(fields, site_id, web_api))
    return template
