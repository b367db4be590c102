"""IAM for DynamoDB: the actions a function's table operations need, on exactly those tables.

``portafn.package.access`` finds what each function does to each table (its own code, and what
the library does for it: idempotency records, outbox records, the relay and the sweep); this maps
those store operations onto the DynamoDB actions ``portafn_aws.dynamodb_store`` calls, and groups
tables that need the same actions into one statement. A function that only reads gets only read
actions. Table creation and ``DescribeTable`` are not granted: the template makes the tables and
sets ``PORTAFN_CREATE_TABLES=0``.

A transaction (``TransactWriteItems``) is authorised by AWS item by item, as ``PutItem``,
``DeleteItem`` or ``ConditionCheckItem``, so it needs no action of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from portafn.package import access

# The DynamoDB calls behind each store operation (portafn_aws.dynamodb_store).
ACTIONS: Mapping[str, tuple[str, ...]] = {
    access.GET: ("dynamodb:GetItem",),
    access.QUERY: ("dynamodb:Query",),
    access.BATCH_GET: ("dynamodb:BatchGetItem",),
    access.PUT: ("dynamodb:PutItem",),
    access.DELETE: ("dynamodb:DeleteItem",),
    access.BATCH_WRITE: ("dynamodb:BatchWriteItem",),
    access.CHECK: ("dynamodb:ConditionCheckItem",),
    # Reading a change source from code finds the stream through DescribeTable.
    access.CHANGES: ("dynamodb:DescribeTable",),
}
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
READ_ACTIONS = frozenset(a for op in access.READS for a in ACTIONS[op])


def actions(operations: Iterable[str]) -> tuple[str, ...]:
    """The DynamoDB actions for a set of store operations, sorted."""
    return tuple(sorted({a for op in operations for a in ACTIONS[op]}))


def table_statements(
    used: access.Access,
    table_arn: Callable[[str], Any],
    stream_arn: Callable[[str], Any],
) -> list[dict[str, Any]]:
    """Allow statements for ``used`` (table name -> operations): one per distinct set of actions,
    naming exactly the tables that need it (``table_arn(name)``), plus stream reads on the
    streams of tables whose change source the code reads (``stream_arn(name)``)."""
    by_actions: dict[tuple[str, ...], list[str]] = {}
    for name, ops in sorted(used.items()):
        by_actions.setdefault(actions(ops), []).append(name)
    statements = [
        {"Effect": "Allow", "Action": list(acts), "Resource": [table_arn(n) for n in names]}
        for acts, names in sorted(by_actions.items())
        if acts
    ]
    streams = [name for name, ops in sorted(used.items()) if access.CHANGES in ops]
    if streams:
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(STREAM_READ_ACTIONS),
                "Resource": [stream_arn(n) for n in streams],
            }
        )
    return statements
