"""Session servers for the AWS tests: DynamoDB Local (the official jar) and moto's server, started and
stopped by pid.

A test that cannot reach its server fails with the server's own message; nothing is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from portafn_aws.dynamodb_store import DynamoDBStore

from portafn.dev import servers
from portafn.dev.servers import RunningServer

LOGS = Path(__file__).resolve().parents[2] / ".portafn" / "logs" / "aws-tests"


@pytest.fixture(scope="session")
def dynamodb_server() -> Iterator[RunningServer]:
    """DynamoDB Local in memory, with dummy AWS credentials set for this process."""
    server = servers.start("dynamodb", LOGS)
    env = {k: v for k, v in server.env.items() if k != "PORTAFN_STORE"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def dynamodb_url(dynamodb_server: RunningServer) -> str:
    """A store URL with a fresh table prefix, so each test has its own tables."""
    assert dynamodb_server.store_url is not None
    return f"{dynamodb_server.store_url}&prefix=t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def dynamodb_store(dynamodb_url: str) -> Iterator[DynamoDBStore]:
    """A DynamoDB store on DynamoDB Local with its own table prefix."""
    store = DynamoDBStore(dynamodb_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[RunningServer]:
    """moto's real server (``moto_server``, a subprocess) for SNS, SQS, STS and EventBridge."""
    server = servers.start("moto", LOGS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_env(moto_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> RunningServer:
    """For one test: boto3 clients made from the environment talk to moto (``AWS_ENDPOINT_URL``)."""
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)
    for name in (
        "PORTAFN_AWS_PUBLISH",
        "PORTAFN_AWS_TOPIC_ARN_PREFIX",
        "PORTAFN_AWS_EVENT_BUS",
        "PORTAFN_DLQ_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return moto_server
