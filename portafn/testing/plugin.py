"""The portafn pytest plugin (registered through the ``pytest11`` entry point).

It gives tests an in-process client for an app; the provider/store matrix builds on it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from portafn.app import App
from portafn.testing import LocalClient


@pytest.fixture
def portafn_local() -> Callable[[App], LocalClient]:
    """A factory: ``portafn_local(app)`` gives a ``LocalClient`` for ``app``."""
    return LocalClient
