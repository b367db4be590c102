"""portafn on Azure: the Functions (Python v2 model) entry point, event translation, Cosmos DB store.

``function_app(app)`` builds the module-level ``azure.functions.FunctionApp``; write it in
``function_app.py``::

    from portafn_azure import function_app
    from myservice.app import app as portafn_app

    app = function_app(portafn_app)

Importing this package loads neither azure-functions nor azure-cosmos until they are used, and
never another provider's SDK.
"""

from __future__ import annotations

from typing import Any

__all__ = ["function_app"]


def function_app(app: Any, **options: Any) -> Any:
    """The ``azure.functions.FunctionApp`` for a portafn ``App`` (see ``portafn_azure.entry``)."""
    from portafn_azure.entry import function_app as build

    return build(app, **options)
