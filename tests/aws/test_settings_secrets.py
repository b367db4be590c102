"""Settings and secrets on AWS: resolved from moto's real SSM and Secrets Manager, never logged.

The Lambda entry runs the app as AWS runs it (``lambda_handler``); the app's secrets come from
moto's server through boto3, and its plain settings from the function's environment.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import boto3
import pytest
from portafn_aws import lambda_handler
from portafn_aws import settings as aws_settings
from pydantic import BaseModel, SecretStr

from portafn import App, Context, Secret, SettingsError
from portafn.dev.servers import RunningServer

pytestmark = pytest.mark.emulator

API_KEY = "sk-live-7f3a9c2e41b8d6a0"
DB_PASSWORD = "pw-ssm-58c1e0a9b7f2"
ROTATED = "sk-live-rotated-0c9d8e7f"


class Config(BaseModel):
    api_url: str
    page_size: int = 50
    api_key: Annotated[SecretStr, Secret("shop/api-key")]
    db_password: Annotated[SecretStr, Secret("/shop/db-password", kind="parameter")]


def make_app(now: list[float]) -> tuple[App, Any]:
    app = App("shop")
    config = app.settings(Config, refresh_secrets=60)
    config._clock = lambda: now[0]

    @app.http("GET", "/config")
    def show(ctx: Context) -> dict[str, Any]:
        cfg = config.get()
        # The whole settings object goes to the log: the secrets must appear masked.
        ctx.logger.info("config loaded", extra={"config": repr(cfg), "fields": cfg.model_dump()})
        return {
            "api_url": cfg.api_url,
            "page_size": cfg.page_size,
            "key_suffix": cfg.api_key.get_secret_value()[-4:],
            "password_length": len(cfg.db_password.get_secret_value()),
        }

    return app, config


def http_event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1"},
            "requestId": "r-1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def secrets_env(moto_env: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_settings.reset_clients()
    monkeypatch.setenv("API_URL", "https://api.example.com")
    sm = boto3.client("secretsmanager")
    ssm = boto3.client("ssm")
    try:
        sm.create_secret(Name="shop/api-key", SecretString=API_KEY)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId="shop/api-key", SecretString=API_KEY)
    ssm.put_parameter(Name="/shop/db-password", Value=DB_PASSWORD, Type="SecureString", Overwrite=True)
    yield
    aws_settings.reset_clients()


@pytest.mark.usefixtures("secrets_env")
def test_lambda_reads_secrets_from_secrets_manager_and_ssm_and_never_logs_them(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    app, _ = make_app(now)
    handler = lambda_handler(app)
    with caplog.at_level(logging.DEBUG):
        answer = handler(http_event("/config"), None)
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body == {
        "api_url": "https://api.example.com",
        "page_size": 50,
        "key_suffix": API_KEY[-4:],
        "password_length": len(DB_PASSWORD),
    }
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "config loaded" in logged
    for value in (API_KEY, DB_PASSWORD):
        assert value not in logged


@pytest.mark.usefixtures("secrets_env")
def test_secrets_refresh_after_the_interval_plain_settings_do_not() -> None:
    now = [0.0]
    _, config = make_app(now)
    config.bind("aws")
    assert config.get().api_key.get_secret_value() == API_KEY
    boto3.client("secretsmanager").put_secret_value(SecretId="shop/api-key", SecretString=ROTATED)
    now[0] = 59.0
    assert config.get().api_key.get_secret_value() == API_KEY  # cached within the interval
    now[0] = 61.0
    assert config.get().api_key.get_secret_value() == ROTATED


@pytest.mark.usefixtures("secrets_env")
def test_a_missing_secret_names_it_and_the_store_without_values() -> None:
    boto3.client("ssm").delete_parameter(Name="/shop/db-password")
    _, config = make_app([0.0])
    with pytest.raises(SettingsError) as err:
        config.bind("aws")
    message = str(err.value)
    assert "db_password" in message
    assert "/shop/db-password" in message
    assert "aws" in message
    assert API_KEY not in message
