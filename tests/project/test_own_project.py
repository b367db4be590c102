"""A project of one's own: built wheels, a fresh venv, ``portafn new`` outside the checkout, its tests.

This is what a new user does: install portafn with its provider extras from the wheels (not the
workspace), write a starter with ``portafn new``, and run ``portafn test`` on every provider x
SQLite and DynamoDB Local. Nothing here imports from the checkout: the project lives in a
temporary directory and its interpreter is the fresh venv's. The DynamoDB Local jar comes from the
user cache (``PORTAFN_CACHE``); the checkout's bootstrap puts it in the checkout's ``.cache``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = ("local", "aws", "azure", "gcp")


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, f"{' '.join(argv)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _cache() -> Path:
    # The jar's location for this machine: an explicit PORTAFN_CACHE, else the checkout's .cache.
    return Path(os.environ.get("PORTAFN_CACHE") or REPO / ".cache")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        # scripts/bootstrap installs uv, so under CI its absence is a broken set-up, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "uv is not on PATH: it builds the wheels and the fresh venv"
        )
    work = tmp_path_factory.mktemp("own-project")
    wheels = work / "wheels"
    _run([uv, "build", "--all-packages", "--wheel", "--out-dir", str(wheels)], REPO)
    built = {w.name.split("-")[0]: w for w in wheels.glob("*.whl")}
    assert set(built) == {"portafn", "portafn_aws", "portafn_azure", "portafn_gcp"}, built
    venv = work / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], work)
    python = venv / "bin" / "python"
    _run(
        [
            *(uv, "pip", "install", "--quiet", "--python", str(python)),
            f"{built['portafn']}[aws,azure,gcp]",
            *(str(built[n]) for n in ("portafn_aws", "portafn_azure", "portafn_gcp")),
            "pytest",
        ],
        work,
    )
    return venv


def test_a_new_project_outside_the_checkout_passes_on_every_provider(
    venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("user-home")
    assert not home.is_relative_to(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAFN_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update({"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "PORTAFN_CACHE": str(_cache())})
    portafn = str(venv / "bin" / "portafn")
    _run([portafn, "new", "my-shop"], home, env)
    project = home / "my-shop"
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import portafn; print(portafn.__file__)"], project, env
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), "portafn must come from the wheel"
    _run(
        [portafn, "test", "--providers", ",".join(PROVIDERS), "--stores", "sqlite,dynamodb", "--", "-q"],
        project,
        env,
    )
    report = json.loads((project / ".portafn" / "report" / "report.json").read_text())
    cells = [f"{p}/{s}" for p in PROVIDERS for s in ("sqlite", "dynamodb")]
    assert sorted(report["columns"]) == sorted(cells)
    assert len(report["tests"]) == 3
    for test, results in report["tests"].items():
        assert results == dict.fromkeys(cells, "passed"), test
