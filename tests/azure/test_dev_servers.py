"""``portafn dev up azurite cosmos``: each server starts through ``portafn.dev.servers.start`` and
answers a real client's requests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from portafn.dev.process import ServerError
from portafn.dev.servers import RunningServer, start


@pytest.fixture(scope="module")
def azurite() -> Iterator[RunningServer]:
    try:
        server = start("azurite")
    except ServerError as exc:
        pytest.fail(f"cannot start Azurite (run `npm ci`): {exc}", pytrace=False)
    yield server
    server.stop()


def test_azurite_queue_round_trip(azurite: RunningServer) -> None:
    from azure.storage.queue import QueueClient

    conn = azurite.env["AzureWebJobsStorage"]
    assert conn == azurite.env["AZURE_STORAGE_CONNECTION_STRING"]
    queue = QueueClient.from_connection_string(conn, "order-events")
    queue.create_queue()
    queue.send_message('{"order_id": "o-1"}')
    (got,) = list(queue.receive_messages(max_messages=1))
    assert (got.content, got.dequeue_count) == ('{"order_id": "o-1"}', 1)
    queue.delete_message(got)
    assert list(queue.peek_messages()) == []


def test_azurite_blob_service_answers(azurite: RunningServer) -> None:
    import urllib.error
    import urllib.request

    assert azurite.endpoint is not None
    # An unsigned request to the blob service: Azurite answers with a storage error document.
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(azurite.endpoint + "?comp=list", timeout=5)
    assert info.value.code in (400, 403)
    assert b"<Error>" in info.value.read()


def test_cosmos_starts_and_answers_the_sdk(cosmos_server: RunningServer) -> None:
    from azure.cosmos import CosmosClient

    assert cosmos_server.endpoint is not None
    assert cosmos_server.env["PORTAFN_STORE"] == cosmos_server.store_url
    client = CosmosClient(
        cosmos_server.endpoint, credential=os.environ["PORTAFN_COSMOS_KEY"], enable_endpoint_discovery=False
    )
    db = client.create_database_if_not_exists("dev-up-check")
    assert db.read()["id"] == "dev-up-check"
    client.close()
