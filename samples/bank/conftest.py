"""The bank sample's tests run on every provider and store the portafn plugin selects."""

from __future__ import annotations

import pytest

from portafn import App
from samples.bank.app import app


@pytest.fixture
def portafn_app() -> App:
    return app
