"""Session servers for the GCP tests: Google's Firestore and Pub/Sub emulators, started by pid.

A test that cannot reach its server fails with the server's own message; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from portafn_gcp.dev import firestore as firestore_dev

from portafn.dev import servers
from portafn.dev.servers import RunningServer

LOGS = Path(__file__).resolve().parents[2] / ".portafn" / "logs" / "gcp-tests"


@pytest.fixture(scope="session")
def firestore_server() -> Iterator[RunningServer]:
    """The Firestore emulator, with ``FIRESTORE_EMULATOR_HOST`` set for this process."""
    server = servers.start("firestore", LOGS)
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update({k: v for k, v in server.env.items() if k != "PORTAFN_STORE"})
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
def firestore_clean(firestore_server: RunningServer) -> RunningServer:
    """The emulator with every document deleted first."""
    assert firestore_server.endpoint is not None
    firestore_dev.reset(firestore_server.endpoint)
    return firestore_server


@pytest.fixture(scope="session")
def pubsub_server() -> Iterator[RunningServer]:
    """The Pub/Sub emulator, with ``PUBSUB_EMULATOR_HOST`` set for this process."""
    server = servers.start("pubsub", LOGS)
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
