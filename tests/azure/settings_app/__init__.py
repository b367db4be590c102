"""A small app with settings and a secret, packaged for Azure and run under the real worker."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, SecretStr

from portafn import App, Context, Secret


class Config(BaseModel):
    greeting: str
    token: Annotated[SecretStr, Secret("shop-token")]


app = App("azsettings")
config = app.settings(Config)


@app.http("GET", "/hello")
def hello(ctx: Context) -> dict[str, Any]:
    """Answers from the settings and logs them (the secret masked)."""
    cfg = config.get()
    ctx.logger.info("settings %r", cfg)
    return {"greeting": cfg.greeting, "token_length": len(cfg.token.get_secret_value())}
