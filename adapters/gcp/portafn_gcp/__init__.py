"""portafn on Google Cloud: functions-framework targets, event translation, and the Firestore store.

An entry module is one line::

    from portafn_gcp import targets; from myapp import app; globals().update(targets(app))

Importing this package loads no cloud SDK; functions-framework, flask and google-cloud-firestore
are imported when a target or the store is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from portafn.app import App
    from portafn.runtime import Runtime

__all__ = ["targets"]


def targets(app: App, runtime: Runtime | None = None) -> dict[str, Callable[..., Any]]:
    """functions-framework targets for every function of ``app`` (see ``portafn_gcp.entry``)."""
    from portafn_gcp.entry import targets as build

    return build(app, runtime)
