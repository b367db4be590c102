"""``portafn new`` writes a starter; ``portafn test`` imports the user's package from the working directory."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest

from portafn.cli.main import main
from portafn.cli.test import use_working_directory


def test_new_writes_app_test_pyproject_and_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "my-shop", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "my-shop"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        ".gitignore",
        "README.md",
        "my_shop/__init__.py",
        "my_shop/app.py",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_app.py",
    ]
    ini = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert ini["pythonpath"] == ["."]
    assert (ini["portafn_providers"], ini["portafn_stores"]) == ("local", "sqlite")
    compile((root / "my_shop" / "app.py").read_text(), "app.py", "exec")
    assert "portafn test" in capsys.readouterr().out


def test_new_refuses_a_non_empty_directory_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    assert main(["new", "taken", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not empty" in err


def test_portafn_test_puts_the_working_directory_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    use_working_directory()
    assert sys.path[0] == str(tmp_path)
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/elsewhere"]
