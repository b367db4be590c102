"""The Azure harness: the Cosmos DB server (behind its fidelity proxy) for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from portafn.dev.process import ServerError
from portafn.dev.servers import RunningServer


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[RunningServer]:
    from portafn_azure.dev import cosmos

    try:
        server = cosmos.start()
    except ServerError as exc:
        pytest.fail(f"cannot start @vercel/cosmosdb-server (run `npm ci`): {exc}", pytrace=False)
    os.environ.update(server.env)
    yield server
    server.stop()
