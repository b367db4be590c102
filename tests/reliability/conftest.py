"""Reliability tests run through the portafn plugin on every selected store (``--portafn-stores``;
memory and sqlite by default), so the same tests later prove the cloud stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portafn import App
from tests.reliability.apps import app, effects


@pytest.fixture
def portafn_app() -> App:
    return app


@pytest.fixture(autouse=True)
def _reset_effects() -> Iterator[None]:
    effects.reset()
    yield
    effects.reset()
