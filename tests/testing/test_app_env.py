"""What an out-of-process driver (the Azure worker) hands the app: declared and test-set variables
and PORTAFN_*, never the rest of the runner's environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, SecretStr

from portafn import App
from portafn.testing import app_env


class Config(BaseModel):
    api_url: str
    token: SecretStr | None = None


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A runner whose environment already holds a credential and the app's declared URL."""
    monkeypatch.setenv("RUNNER_CLOUD_SECRET", "s3cr3t")
    monkeypatch.setenv("SHOP_API_URL", "https://api.example.com")
    monkeypatch.setenv("PORTAFN_LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    app_env.snapshot()
    yield
    app_env.snapshot()


def test_declared_settings_are_forwarded_and_the_runner_secrets_are_not(runner_env: None) -> None:
    app = App("shop")
    app.settings(Config, prefix="SHOP_")
    env = app_env.app_environment(app)
    assert env["SHOP_API_URL"] == "https://api.example.com"
    assert env["PORTAFN_LOG_LEVEL"] == "DEBUG"
    assert "RUNNER_CLOUD_SECRET" not in env
    assert "SHOP_TOKEN" not in env  # declared, but has no value here


def test_variables_a_test_sets_are_forwarded(runner_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    app = App("bare")  # declares nothing: it reads os.environ itself
    monkeypatch.setenv("BARE_KEYS", "k=v")
    monkeypatch.setenv("RUNNER_CLOUD_SECRET", "rotated")  # changed by the test: the test's now
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "changes every test")
    env = app_env.app_environment(app)
    assert env["BARE_KEYS"] == "k=v"
    assert env["RUNNER_CLOUD_SECRET"] == "rotated"
    assert "PYTEST_CURRENT_TEST" not in env
    assert "SHOP_API_URL" not in env
