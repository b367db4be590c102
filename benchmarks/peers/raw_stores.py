"""The raw-SDK peers of the store benchmark: get, put, query and a batch loop per database, written
the way a user of each SDK would, against their own table/container/collection on the same server.

Results are left as the SDK returns them (no model validation): the cheapest possible baseline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

Item = dict[str, Any]


class RawStore(Protocol):
    """What the store benchmark calls on a raw peer."""

    def put(self, item: Item) -> None: ...
    def get(self, pk: str, sk: str) -> Any: ...
    def query(self, pk: str, limit: int) -> list[Any]: ...
    def batch_put(self, items: Sequence[Item]) -> None: ...


class RawDynamoDB:
    """boto3's low-level client: PutItem, GetItem (strongly consistent), Query, BatchWriteItem."""

    def __init__(self, endpoint: str, table: str = "raw_items") -> None:
        import boto3

        self.table = table
        self.client = boto3.client("dynamodb", endpoint_url=endpoint)
        if table not in self.client.list_tables()["TableNames"]:
            self.client.create_table(
                TableName=table,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            self.client.get_waiter("table_exists").wait(TableName=table)

    @staticmethod
    def _item(item: Item) -> dict[str, Any]:
        return {
            "pk": {"S": item["pk"]},
            "sk": {"S": item["sk"]},
            "n": {"N": str(item["n"])},
            "name": {"S": item["name"]},
            "tags": {"L": [{"S": t} for t in item["tags"]]},
        }

    def put(self, item: Item) -> None:
        """PutItem."""
        self.client.put_item(TableName=self.table, Item=self._item(item))

    def get(self, pk: str, sk: str) -> Any:
        """GetItem, strongly consistent (as portafn reads)."""
        return self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")

    def query(self, pk: str, limit: int) -> list[Any]:
        """One page of a partition."""
        out = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            Limit=limit,
            ConsistentRead=True,
        )
        return list(out.get("Items", []))

    def batch_put(self, items: Sequence[Item]) -> None:
        """BatchWriteItem in chunks of 25, resending what DynamoDB leaves unprocessed."""
        for i in range(0, len(items), 25):
            requests: list[Any] = [{"PutRequest": {"Item": self._item(it)}} for it in items[i : i + 25]]
            while requests:
                out = self.client.batch_write_item(RequestItems={self.table: requests})
                requests = list(out.get("UnprocessedItems", {}).get(self.table, []))


class RawCosmos:
    """azure-cosmos: upsert_item, read_item, a parameterised query in one partition, and an upsert
    loop for batches (Cosmos has no cross-partition bulk write in the Python SDK)."""

    def __init__(self, endpoint: str, database: str, container: str = "raw_items") -> None:
        from azure.cosmos import CosmosClient, PartitionKey

        key = os.environ["PORTAFN_COSMOS_KEY"]
        self.client = CosmosClient(endpoint, credential=key, enable_endpoint_discovery=False)
        db = self.client.create_database_if_not_exists(database)
        self.container = db.create_container_if_not_exists(container, partition_key=PartitionKey(path="/pk"))

    def put(self, item: Item) -> None:
        """upsert_item."""
        self.container.upsert_item({"id": item["sk"], **item})

    def get(self, pk: str, sk: str) -> Any:
        """read_item."""
        return self.container.read_item(sk, partition_key=pk)

    def query(self, pk: str, limit: int) -> list[Any]:
        """The first ``limit`` items of a partition, ordered by sort key."""
        rows = self.container.query_items(
            "SELECT TOP @n * FROM c WHERE c.pk = @pk ORDER BY c.sk",
            parameters=[{"name": "@n", "value": limit}, {"name": "@pk", "value": pk}],
            partition_key=pk,
        )
        return list(rows)

    def batch_put(self, items: Sequence[Item]) -> None:
        """One upsert per item."""
        for item in items:
            self.container.upsert_item({"id": item["sk"], **item})


class RawFirestore:
    """google-cloud-firestore: set, get, a where/order_by/limit query, WriteBatch of 500."""

    def __init__(self, project: str, collection: str = "raw_items") -> None:
        from google.cloud import firestore

        self.client = firestore.Client(project=project)
        self.collection = self.client.collection(collection)

    def put(self, item: Item) -> None:
        """set()."""
        self.collection.document(f"{item['pk']}#{item['sk']}").set(item)

    def get(self, pk: str, sk: str) -> Any:
        """get(), as a dict."""
        return self.collection.document(f"{pk}#{sk}").get().to_dict()

    def query(self, pk: str, limit: int) -> list[Any]:
        """The first ``limit`` items of a partition, ordered by sort key."""
        q = self.collection.where(filter=_field_filter("pk", "==", pk)).order_by("sk").limit(limit)
        return [d.to_dict() for d in q.stream()]

    def batch_put(self, items: Sequence[Item]) -> None:
        """WriteBatch commits of up to 500 writes (Firestore's limit)."""
        for i in range(0, len(items), 500):
            batch = self.client.batch()
            for item in items[i : i + 500]:
                batch.set(self.collection.document(f"{item['pk']}#{item['sk']}"), item)
            batch.commit()


def _field_filter(field: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, op, value)
