"""Settings and secrets on Cloud Functions, through functions-framework.

``--set-secrets`` makes Cloud Functions put each secret's value in the function's environment
when an instance starts; here the environment is set the same way and the app runs under
functions-framework (``GcpDriver``), reading its settings once and never logging a secret.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from portafn_gcp.driver import GcpDriver
from pydantic import BaseModel, SecretStr

from portafn import App, Context, HttpRequest, Secret

TOKEN = "gcp-secret-4be1f07c93d2"


class Config(BaseModel):
    greeting: str
    token: Annotated[SecretStr, Secret("shop-token")]


app = App("gcpsettings")
config = app.settings(Config)


@app.http("GET", "/hello")
def hello(ctx: Context) -> dict[str, Any]:
    cfg = config.get()
    ctx.logger.info("settings", extra={"settings": repr(cfg)})
    return {"greeting": cfg.greeting, "token_length": len(cfg.token.get_secret_value())}


def test_functions_framework_serves_settings_from_the_environment_set_secrets_fills(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GREETING", "hi")
    monkeypatch.setenv("TOKEN", TOKEN)
    config.reset()
    with caplog.at_level(logging.DEBUG):
        response = GcpDriver(app).http(HttpRequest("GET", "/hello"))
    assert response.status == 200
    assert response.json() == {"greeting": "hi", "token_length": len(TOKEN)}
    assert config.provider == "gcp"
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert "settings" in logged
    assert TOKEN not in logged


def test_a_missing_secret_is_a_500_naming_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREETING", "hi")
    monkeypatch.delenv("TOKEN", raising=False)
    config.reset()
    response = GcpDriver(app).http(HttpRequest("GET", "/hello"))
    assert response.status == 500
