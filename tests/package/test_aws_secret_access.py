"""The generated roles may read the app's secrets, proven on moto's server enforcing IAM.

A principal holding a function's generated statements (resources widened to ``*``, see
``tests/package/moto_iam.py``: moto checks the actions here; the exact ARNs are checked statically
in ``test_settings_emitted.py``) resolves both secrets through ``portafn_aws.settings``; a
principal without the secret statements is refused, so the grants are what makes it work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from portafn_aws import settings as aws_settings
from portafn_aws.package import sam_template

from portafn.settings import Secret
from tests.package import moto_iam
from tests.package.test_settings_emitted import context

pytestmark = pytest.mark.emulator

LOGS = Path(__file__).resolve().parents[2] / ".portafn" / "logs" / "aws-secret-tests"
API_KEY = Secret("shop-api-key")
DB_PASSWORD = Secret("shop-db-password", kind="parameter")


@pytest.fixture(scope="module")
def enforcing() -> Iterator[moto_iam.EnforcingMoto]:
    server = moto_iam.start(LOGS, "secrets-")
    server.client("secretsmanager").create_secret(Name=API_KEY.name, SecretString="k-9f2c")
    server.client("ssm").put_parameter(Name=DB_PASSWORD.name, Value="p-41d7", Type="SecureString")
    try:
        yield server
    finally:
        server.server.stop()


def _statements(tmp_path: Path) -> list[dict[str, Any]]:
    template = sam_template(context(tmp_path))
    role = template["Resources"]["PingRole"]
    statements: list[dict[str, Any]] = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return statements


def _resolve(enforcing: moto_iam.EnforcingMoto, keys: moto_iam.Keys) -> list[str | None]:
    with enforcing.acting_as(keys):
        aws_settings.reset_clients()
        try:
            return [aws_settings.resolve(API_KEY), aws_settings.resolve(DB_PASSWORD)]
        finally:
            aws_settings.reset_clients()


def test_the_generated_role_reads_exactly_its_secrets(
    enforcing: moto_iam.EnforcingMoto, tmp_path: Path
) -> None:
    keys = enforcing.principal(_statements(tmp_path))
    assert _resolve(enforcing, keys) == ["k-9f2c", "p-41d7"]


def test_without_the_secret_statements_the_read_is_refused(
    enforcing: moto_iam.EnforcingMoto, tmp_path: Path
) -> None:
    others = [
        s
        for s in _statements(tmp_path)
        if not any(a.startswith(("secretsmanager:", "ssm:")) for a in s["Action"])
    ]
    keys = enforcing.principal(others)
    with pytest.raises(ClientError) as refused:
        _resolve(enforcing, keys)
    # Refused, not taken for a missing secret (which would resolve to None and read as "missing").
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
