"""Inside Lambda the handler prepares at init what the first invocation would otherwise do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from portafn_aws import lambda_handler

from portafn import App
from portafn.store.registry import set_default_store


@pytest.fixture(autouse=True)
def _fresh_default_store() -> Iterator[None]:
    """Preparing opens the process's default store: forget it after each test."""
    yield
    set_default_store(None)


def _app(started: list[str]) -> App:
    app = App("prepared")

    @app.on_start
    def hook() -> None:
        started.append("hook")

    @app.http("GET", "/ping")
    def ping() -> str:
        return "pong"

    return app


def test_inside_lambda_the_start_hooks_run_when_the_handler_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "prepared")
    monkeypatch.setenv("PORTAFN_STORE", "memory://")
    started: list[str] = []
    lambda_handler(_app(started))
    assert started == ["hook"]


def test_prepare_can_be_left_to_the_first_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "prepared")
    monkeypatch.setenv("PORTAFN_PREPARE", "0")
    started: list[str] = []
    handler = lambda_handler(_app(started))
    assert started == []
    handler.runtime.start()
    assert started == ["hook"]


def test_a_failure_at_init_is_left_for_the_first_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "prepared")
    app = App("failing")
    calls: list[int] = []

    @app.on_start
    def hook() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("not yet")

    handler = lambda_handler(app)  # does not raise
    assert calls == [1]
    handler.runtime.start()  # the first invocation runs the hooks again
    assert calls == [1, 1]
