"""A provider is a plug: a toy fourth provider registered from a test module reaches the contract
matrix, ``portafn test`` and ``portafn package`` with no change to the core."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from portafn.plugins import providers, register_provider, unregister_provider
from tests.plugins.toy_provider import PROVIDER

ROOT = Path(__file__).resolve().parents[2]
pytest_plugins = ["pytester"]


@pytest.fixture
def toy() -> Iterator[None]:
    register_provider(PROVIDER)
    try:
        yield
    finally:
        unregister_provider(PROVIDER.name)


def test_registered_provider_is_found_and_removed(toy: None) -> None:
    from portafn.plugins import runtimes
    from portafn.store.registry import store_class
    from tests.plugins.toy_provider import ToyStore

    assert "toy" in runtimes()
    assert store_class("toymem://") is ToyStore
    unregister_provider("toy")
    assert "toy" not in providers()


def test_portafn_test_defaults_to_every_installed_runtime(toy: None) -> None:
    from portafn.cli.test import pytest_argv

    args = argparse.Namespace(providers=None, stores="memory", report=None, pytest_args=[])
    argv = pytest_argv(args)
    chosen = argv[argv.index("--portafn-providers") + 1].split(",")
    assert "toy" in chosen
    assert "local" not in chosen  # the neutral runtime is every matrix's baseline, not a provider to choose


CONFTEST = """
import pytest
from portafn import App
from portafn.plugins import register_provider
from tests.plugins.toy_provider import PROVIDER

register_provider(PROVIDER)
app = App("toyapp")

@app.http("GET", "/hello/{name}")
def hello(name: str) -> dict[str, str]:
    return {"hello": name}

@pytest.fixture
def portafn_app():
    return app
"""

TEST = """
def test_hello(portafn_client):
    r = portafn_client.get("/hello/ada")
    assert r.status == 200
    assert r.json() == {"hello": "ada"}
"""


def test_toy_provider_runs_in_the_contract_matrix(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(ROOT)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_toy=TEST)
    result = pytester.runpytest("--portafn-providers", "local,toy", "--portafn-stores", "memory,toymem://")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*local/memory*toy/memory*toy/toymem://*", "*test_hello*pass*pass*pass*pass*"]
    )


@pytest.mark.emulator
@pytest.mark.slow
def test_toy_provider_packages_an_artifact_that_runs(toy: None, tmp_path: Path) -> None:
    from portafn.cli.main import main

    out = tmp_path / "dist"
    assert main(["package", "samples.orders.app:app", "--provider", "toy", "--out", str(out)]) == 0
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out / "toy.zip") as zf:
        names = zf.namelist()
        zf.extractall(unpacked)
    assert "toy_main.py" in names
    assert any(n.startswith("samples/orders/") for n in names)
    request = {"verb": "GET", "path": "/customers/c1/orders", "query": {}, "headers": [], "body": ""}
    code = "import json, sys, toy_main; print(json.dumps(toy_main.handler(json.loads(sys.argv[1]))))"
    env = {**os.environ, "PYTHONPATH": str(unpacked), "PORTAFN_STORE": "memory://"}
    done = subprocess.run(
        # -S: no site-packages, so only what the artifact ships can be imported.
        [sys.executable, "-S", "-c", code, json.dumps(request)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200
