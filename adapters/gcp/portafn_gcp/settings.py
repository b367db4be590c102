"""How Cloud Functions carries the app's settings and secrets: ``deploy.sh`` flags and grants.

Cloud Functions puts a Secret Manager secret in the function's environment when it is deployed
with ``--set-secrets=ENV=NAME:latest`` (the version is resolved when an instance starts), so at run
time portafn reads it like any setting and this provider declares no resolver. Each function's
service account is granted ``roles/secretmanager.secretAccessor`` on exactly the declared secrets.
A required plain setting is taken from the deploying shell's environment (``deploy.sh`` stops
with its name when it is unset). No value is written into the script.
"""

from __future__ import annotations

from portafn.settings import Declared

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"


def env_assignments(fields: list[Declared]) -> list[str]:
    """``ENV=$ENV`` for each required plain setting, appended to ``--set-env-vars``."""
    return [f"{f.env}=${f.env}" for f in fields if f.required and f.secret is None]


def required_env(fields: list[Declared]) -> list[str]:
    """The environment variables ``deploy.sh`` must be run with."""
    return [f.env for f in fields if f.required and f.secret is None]


def secret_flags(fields: list[Declared]) -> list[str]:
    """``--set-secrets`` mapping each secret field's variable to the latest version of its secret."""
    pairs = [f"{f.env}={f.secret.name}:latest" for f in fields if f.secret is not None]
    return [f"--set-secrets={','.join(pairs)}"] if pairs else []


def grant_commands(fields: list[Declared], member: str, project_flag: str) -> list[list[str]]:
    """Let ``member`` read exactly the declared secrets (one binding per secret, not the project)."""
    names = sorted({f.secret.name for f in fields if f.secret is not None})
    return [
        [
            *("gcloud", "secrets", "add-iam-policy-binding", name),
            f"--member={member}",
            f"--role={ACCESSOR_ROLE}",
            project_flag,
        ]
        for name in names
    ]
