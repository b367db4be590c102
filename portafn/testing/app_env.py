"""The app settings a driver hands to an app that runs in another process (a worker, a host).

On a platform the app sees only its own settings (Azure's ``local.settings.json`` "Values", a
Lambda's environment, a Cloud Function's ``--set-env-vars``), never the environment of whoever
deployed it. A driver that starts the app in its own process forwards the same: the variables the
app declares through ``app.settings(...)``, the variables the test run set for it (a fixture's
``monkeypatch.setenv``, a local server's endpoint), and portafn's own ``PORTAFN_*``; never the
rest of the test runner's environment, whose credentials the app did not ask for.

What "set by the test run" means is a difference: the environment is snapshot when the pytest
plugin is configured (or when this module is first imported, outside pytest), and a variable
that is new or changed since then is the test's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from portafn.settings import app_fields

if TYPE_CHECKING:
    from portafn.app import App

OWN_PREFIX = "PORTAFN_"
RUNNER_PREFIX = "PYTEST_"  # pytest's own bookkeeping (PYTEST_CURRENT_TEST changes every test)
_baseline: dict[str, str] = dict(os.environ)


def snapshot() -> None:
    """Take the environment as it is now as the test runner's own (the pytest plugin calls this)."""
    global _baseline
    _baseline = dict(os.environ)


def set_by_tests() -> dict[str, str]:
    """Variables new or changed since the snapshot."""
    return {k: v for k, v in os.environ.items() if _baseline.get(k) != v and not k.startswith(RUNNER_PREFIX)}


def app_environment(app: App) -> dict[str, str]:
    """What an out-of-process driver forwards to ``app``: its declared settings that have a value
    here, what the tests set, and ``PORTAFN_*``."""
    declared = {f.env for f in app_fields(app)}
    changed = set_by_tests()
    return {k: v for k, v in os.environ.items() if k.startswith(OWN_PREFIX) or k in declared or k in changed}
