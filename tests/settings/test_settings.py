"""Settings declared on the App: typed, read from the environment and .env, cached, errors name no value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, SecretStr

from portafn import App, Runtime, Secret, SettingsError
from portafn.plugins import Provider, register_provider, unregister_provider
from portafn.settings import app_secrets, read_env_file


class Config(BaseModel):
    api_url: str
    page_size: int = 50
    token: Annotated[SecretStr, Secret("tok")]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("API_URL", "PAGE_SIZE", "TOKEN", "PORTAFN_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_env_file_fills_what_the_environment_lacks_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "# local values\nexport API_URL='https://from-file'\nPAGE_SIZE=10\nTOKEN=\"t0k3n-file\"\n"
    )
    monkeypatch.setenv("PAGE_SIZE", "20")
    config = App("a").settings(Config)
    cfg = config.get()
    assert (cfg.api_url, cfg.page_size, cfg.token.get_secret_value()) == (
        "https://from-file",
        20,
        "t0k3n-file",
    )


def test_read_once_per_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "https://one")
    monkeypatch.setenv("TOKEN", "x")
    config = App("a").settings(Config)
    assert config.get().api_url == "https://one"
    monkeypatch.setenv("API_URL", "https://two")
    assert config.get().api_url == "https://one"
    config.reset()
    assert config.get().api_url == "https://two"


def test_missing_settings_fail_at_cold_start_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    app = App("a")
    config = app.settings(Config)
    assert [f.env for f in config.missing()] == ["API_URL", "TOKEN"]
    with pytest.raises(SettingsError, match=r"api_url \(environment variable API_URL\).*token"):
        Runtime(app).start()


def test_invalid_values_are_named_without_echoing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "https://x")
    monkeypatch.setenv("PAGE_SIZE", "not-a-number-s3cr3t")
    monkeypatch.setenv("TOKEN", "x")
    with pytest.raises(SettingsError) as err:
        App("a").settings(Config).get()
    assert "page_size" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_a_provider_resolver_serves_secrets_and_refreshes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    store = {"tok": "first"}
    calls: list[str] = []

    def resolve(secret: Secret) -> str | None:
        calls.append(secret.name)
        return store.get(secret.name)

    monkeypatch.setattr("tests.settings.test_settings.RESOLVER", resolve, raising=False)
    register_provider(
        Provider(name="toy", distribution="toy", secrets="tests.settings.test_settings:RESOLVER")
    )
    try:
        monkeypatch.setenv("API_URL", "https://x")
        now = [0.0]
        app = App("a")
        config = app.settings(Config, refresh_secrets=30)
        config._clock = lambda: now[0]
        Runtime(app, "toy").start()
        assert config.get().token.get_secret_value() == "first"
        store["tok"] = "second"
        now[0] = 10
        assert config.get().token.get_secret_value() == "first"
        now[0] = 31
        assert config.get().token.get_secret_value() == "second"
        assert calls == ["tok", "tok"]
        assert app_secrets(app) == [Secret("tok")]
    finally:
        unregister_provider("toy")


def test_read_env_file_absent_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / "nope.env") == {}
    assert "API_URL" not in os.environ


def test_an_environment_value_wins_over_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(secret: Secret) -> str | None:
        raise AssertionError("the store must not be asked when the environment has the value")

    monkeypatch.setattr("tests.settings.test_settings.RESOLVER", resolve, raising=False)
    register_provider(
        Provider(name="toy2", distribution="toy", secrets="tests.settings.test_settings:RESOLVER")
    )
    try:
        monkeypatch.setenv("API_URL", "https://x")
        monkeypatch.setenv("TOKEN", "from-env")
        app = App("a")
        config = app.settings(Config)
        Runtime(app, "toy2").start()
        assert config.get().token.get_secret_value() == "from-env"
    finally:
        unregister_provider("toy2")
