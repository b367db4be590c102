"""The portafn pytest plugin (registered through the ``pytest11`` entry point).

It gives tests an in-process client for an app; the provider/store matrix builds on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from portafn.app import App
from portafn.local import LocalClient


@pytest.fixture
def portafn_local() -> Iterator[Callable[[App], LocalClient]]:
    """A factory: ``portafn_local(app)`` gives a ``LocalClient`` for ``app``."""
    yield LocalClient
