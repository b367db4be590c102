"""How AWS carries the app's settings and secrets, at run time and in the SAM template.

At run time ``resolve`` reads a ``Secret`` by name: ``kind="secret"`` from Secrets Manager
(``GetSecretValue``), ``kind="parameter"`` from SSM Parameter Store (``GetParameter`` with
decryption, for ``SecureString``). Its clients are made on first use (boto3 is not imported
before) and find a local endpoint through ``AWS_ENDPOINT_URL`` like every portafn client.

In the template, a required plain setting becomes a template parameter passed to every function's
environment, and each function's role may read exactly the declared secrets' ARNs. No value is
ever logged or put into the template.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from portafn.lazy import Lazy
from portafn.settings import Declared, Secret

SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
PARAMETER_ACTIONS = ("ssm:GetParameter",)
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ParameterNotFound"})


class _NoSecretBodies(logging.Filter):
    """Drops botocore's debug record of a response body that carries a secret's value.

    botocore logs every response body at DEBUG (``botocore.parsers``); with debug logging on, a
    ``GetSecretValue`` or ``GetParameter`` answer would put the secret in a log line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(marker in text for marker in _SECRET_MARKERS)


_SECRET_MARKERS = ('"SecretString"', '"SecretBinary"', '"SecureString"', '"Parameter"')
_FILTER = _NoSecretBodies()


def _client(service: str) -> Any:
    import boto3

    for name in ("botocore.parsers", "botocore.endpoint"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return boto3.session.Session().client(service)  # type: ignore[call-overload]


_clients: dict[str, Lazy[Any]] = {
    "secretsmanager": Lazy(partial(_client, "secretsmanager")),
    "ssm": Lazy(partial(_client, "ssm")),
}


def reset_clients() -> None:
    """Drop the clients (a test moving ``AWS_ENDPOINT_URL``)."""
    for client in _clients.values():
        client.reset()


def resolve(secret: Secret) -> str | None:
    """The secret's current value, or None when the store has no such name."""
    from botocore.exceptions import ClientError

    try:
        if secret.kind == "parameter":
            answer = _clients["ssm"].get().get_parameter(Name=secret.name, WithDecryption=True)
            return str(answer["Parameter"]["Value"])
        answer = _clients["secretsmanager"].get().get_secret_value(SecretId=secret.name)
        return str(answer["SecretString"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return None
        raise


def arn(secret: Secret) -> dict[str, Any]:
    """The ARN a role must be allowed to read ``secret`` at (a CloudFormation ``Fn::Sub``).

    Secrets Manager appends ``-`` and six random characters to a secret's name in its ARN, so the
    documented pattern ``NAME-??????`` matches that one secret and no other.
    """
    base = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:"
    if secret.kind == "parameter":
        return {"Fn::Sub": base % "ssm" + "parameter/" + secret.name.lstrip("/")}
    return {"Fn::Sub": base % "secretsmanager" + "secret:" + secret.name + "-??????"}


def statements(secrets: list[Secret]) -> list[dict[str, Any]]:
    """IAM statements allowing reads of exactly ``secrets`` (one per store used)."""
    out = []
    for kind, actions in (("secret", SECRET_ACTIONS), ("parameter", PARAMETER_ACTIONS)):
        arns = [arn(s) for s in secrets if s.kind == kind]
        if arns:
            out.append({"Effect": "Allow", "Action": list(actions), "Resource": arns})
    return out


def parameter_id(field: Declared) -> str:
    """The template parameter of a required plain setting."""
    return "Setting" + "".join(part.capitalize() for part in field.env.split("_"))


def parameters(fields: list[Declared]) -> dict[str, Any]:
    """Template parameters: one per required plain setting, given at ``sam deploy``."""
    return {
        parameter_id(f): {"Type": "String", "Description": f"setting {f.field} ({f.env})"}
        for f in fields
        if f.required and f.secret is None
    }


def variables(fields: list[Declared]) -> dict[str, Any]:
    """Function environment entries for the required plain settings, from their parameters."""
    return {f.env: {"Ref": parameter_id(f)} for f in fields if f.required and f.secret is None}
