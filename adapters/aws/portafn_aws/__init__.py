"""portafn on AWS: a Lambda handler built from an ``App``, and the DynamoDB store.

``handler = lambda_handler(app)`` in the entry module is all a deployment needs. Names are loaded
on first access so that importing the package stays cheap on a cold start (no boto3 until a
store is used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portafn_aws.dynamodb_store import DynamoDBStore
    from portafn_aws.entry import LambdaHandler, lambda_handler
    from portafn_aws.metrics import EmfMetrics

__all__ = ["DynamoDBStore", "EmfMetrics", "LambdaHandler", "lambda_handler"]

_LAZY = {
    "lambda_handler": "portafn_aws.entry",
    "LambdaHandler": "portafn_aws.entry",
    "DynamoDBStore": "portafn_aws.dynamodb_store",
    "EmfMetrics": "portafn_aws.metrics",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'portafn_aws' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
