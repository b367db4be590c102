"""``portafn check`` names every declared setting that is missing, and where each secret comes from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from portafn.cli.main import main

APP = """
from typing import Annotated
from pydantic import BaseModel, SecretStr
from portafn import App, Secret

class Config(BaseModel):
    api_url: str
    page_size: int = 50
    token: Annotated[SecretStr, Secret("shop-token")]

app = App("checked")
config = app.settings(Config)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "checked_app.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    for name in ("API_URL", "PAGE_SIZE", "TOKEN", "PORTAFN_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    sys.modules.pop("checked_app", None)


def test_check_names_missing_settings_and_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", "checked_app:app", "--store", "sqlite:///x.db", "--provider", "aws"])
    out = capsys.readouterr().out
    assert status == 1
    assert "MISSING setting api_url of Config: set environment variable API_URL" in out
    assert "MISSING setting token of Config: set environment variable TOKEN" in out
    assert "page_size" not in out
    assert "secret token on aws: secret 'shop-token' via its secret store" in out


def test_check_passes_once_env_file_supplies_them(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".env").write_text("API_URL=https://x\nTOKEN=t-0p-s3cr3t\n")
    status = main(["check", "checked_app:app", "--store", "sqlite:///x.db", "--provider", "gcp"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "MISSING" not in out
    assert "secret token on gcp: secret 'shop-token' via environment variable TOKEN" in out
    assert "t-0p-s3cr3t" not in out
