"""Packaging where portafn was installed from an index rather than run from its checkout."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from portafn.package import package, wheels
from tests.package.conftest import PYTHON


def test_outside_a_checkout_the_released_wheels_are_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local index holding the released wheels stands in for PyPI.
    index = tmp_path / "index"
    root = Path(__file__).resolve().parents[2]
    for name in ("portafn", "portafn-aws"):
        subprocess.run(
            [
                wheels.uv_executable(),
                "build",
                "--wheel",
                "--package",
                name,
                "--out-dir",
                str(index),
                "--quiet",
            ],
            cwd=root,
            check=True,
        )
    monkeypatch.setattr(wheels, "portafn_workspace", lambda: None)
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    lines: list[str] = []
    result = package("samples.orders.app:app", "aws", tmp_path / "out", progress=lines.append, python=PYTHON)  # type: ignore[arg-type]
    assert any(
        line.startswith("downloading released wheels: portafn==0.1.0, portafn-aws==0.1.0") for line in lines
    )
    [lambda_zip] = [a.path for a in result.artifacts if a.path.name == "lambda.zip"]
    with zipfile.ZipFile(lambda_zip) as zf:
        names = set(zf.namelist())
    assert "portafn/app.py" in names
    assert "portafn_aws/entry.py" in names


def test_a_release_missing_from_the_index_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wheels, "portafn_workspace", lambda: None)
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(wheels.ToolFailed, match=r"cannot download portafn==0\.1\.0, portafn-aws==0\.1\.0"):
        package("samples.orders.app:app", "aws", tmp_path / "out", progress=lambda _: None, python=PYTHON)  # type: ignore[arg-type]
