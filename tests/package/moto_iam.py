"""moto's server with IAM enforced: principals holding exactly one function's generated policy.

moto enforces IAM after its first ``INITIAL_NO_AUTH_ACTION_COUNT`` requests. Those few requests make
an administrator (a user with ``*`` on ``*`` and an access key); everything else — tables, topics,
the principals — is made with that administrator's key, so every later request is signed and
checked, and the count never depends on how many tables an app has.

What moto checks, and what the tests prove elsewhere: moto evaluates DynamoDB (and SNS) requests
against resource ``*``, so a statement scoped to a table never matches there. A principal here gets
the generated statements with their resources widened to ``*``: enforcement proves the ACTIONS,
and a static test proves each statement names exactly the function's tables. moto also authorises
a transaction as one ``dynamodb:TransactWriteItems`` action, where AWS authorises each item of it
as ``PutItem`` / ``DeleteItem`` / ``ConditionCheckItem`` (and has no such action to grant): a
principal whose policy grants an item write gets that moto-only alias too.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from portafn_aws.dev import moto
from portafn_aws.dynamodb_store import DynamoDBStore

from portafn.dev.servers import RunningServer
from portafn.store.port import TableSpec
from portafn.store.registry import use_store

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
STACK = "${AWS::StackName}-"  # how the template starts physical names
ADMIN_CALLS = 3  # CreateUser, PutUserPolicy, CreateAccessKey: the only unauthenticated requests
# moto's name for a transaction; AWS authorises its items one by one (see the module docstring).
MOTO_TRANSACTION_ALIAS = "dynamodb:TransactWriteItems"
ITEM_WRITES = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Keys:
    """An IAM access key pair."""

    key_id: str
    secret: str


def widened(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The policy document moto can evaluate: the statements' actions, on resource ``*``."""
    out = []
    for statement in statements:
        actions = list(statement["Action"])
        if ITEM_WRITES & set(actions):
            actions.append(MOTO_TRANSACTION_ALIAS)
        out.append({"Effect": statement["Effect"], "Action": sorted(actions), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": out}


class EnforcingMoto:
    """A moto server that enforces IAM, with an administrator to set it up."""

    def __init__(self, server: RunningServer, prefix: str) -> None:
        assert server.endpoint is not None
        self.server = server
        self.endpoint = server.endpoint
        self.prefix = prefix
        self.admin = self._bootstrap_admin()

    def stack(self, prefix: str) -> EnforcingMoto:
        """The same server and administrator, for another stack (its own table and topic prefix)."""
        other = copy.copy(self)
        other.prefix = prefix
        return other

    def client(self, service: str, keys: Keys | None = None) -> Any:
        """A boto3 client signed with ``keys`` (default: the administrator's)."""
        keys = keys or self.admin
        return boto3.session.Session().client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=keys.key_id,
            aws_secret_access_key=keys.secret,
        )

    def _bootstrap_admin(self) -> Keys:
        iam = self.client("iam", Keys("bootstrap", "bootstrap"))
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="everything", PolicyDocument=json.dumps(EVERYTHING))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    @property
    def store_url(self) -> str:
        """The DynamoDB store URL of the deployed functions, on moto."""
        return f"dynamodb://?endpoint={self.endpoint}&region={REGION}&prefix={self.prefix}"

    def create_tables(self, specs: Mapping[str, TableSpec]) -> None:
        """Create the tables a template would, as the administrator."""
        with self.acting_as(self.admin, create_tables=True) as store:
            for spec in specs.values():
                store.ensure_table(spec)

    def create_topic(self, topic: str) -> str:
        """Create the SNS topic a template would (``<prefix><topic>``); its ARN."""
        arn: str = self.client("sns").create_topic(Name=self.prefix + topic)["TopicArn"]
        return arn

    def principal(self, statements: list[dict[str, Any]]) -> Keys:
        """A new IAM user holding exactly ``statements`` (resources widened, see ``widened``)."""
        iam = self.client("iam")
        name = f"fn-{uuid.uuid4().hex[:12]}"
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name, PolicyName="generated", PolicyDocument=json.dumps(widened(statements))
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    @contextmanager
    def acting_as(self, keys: Keys, *, create_tables: bool = False) -> Iterator[DynamoDBStore]:
        """Within the block, boto3 clients made from the environment (the store's, the SNS
        publisher's, the SQS actions') sign with ``keys``, as a Lambda's role would."""
        env = {
            "AWS_ACCESS_KEY_ID": keys.key_id,
            "AWS_SECRET_ACCESS_KEY": keys.secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "PORTAFN_STORE": self.store_url,
            "PORTAFN_CREATE_TABLES": "1" if create_tables else "0",
            "PORTAFN_AWS_TOPIC_ARN_PREFIX": f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.prefix}",
        }
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("AWS_SESSION_TOKEN", raising=False)
            mp.delenv("PORTAFN_DLQ_URL", raising=False)
            for name, value in env.items():
                mp.setenv(name, value)
            store = DynamoDBStore(self.store_url)
            try:
                with use_store(store):
                    yield store
            finally:
                store.close()

    def scan(self, table: str) -> list[dict[str, Any]]:
        """Every item of a table, as the administrator (DynamoDB's wire form)."""
        items: list[dict[str, Any]] = self.client("dynamodb").scan(TableName=self.prefix + table)["Items"]
        return items


def start(log_dir: Path, prefix: str) -> EnforcingMoto:
    """Start moto enforcing IAM after the administrator is made."""
    server = moto.start(log_dir, server_env={"INITIAL_NO_AUTH_ACTION_COUNT": str(ADMIN_CALLS)})
    try:
        return EnforcingMoto(server, prefix)
    except BaseException:
        server.stop()
        raise
