"""Which of the user's files ship: the modules the app imports, their data files, and ``include``."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portafn.package import PackageError
from portafn.package.source import user_source

_names = itertools.count()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A src-layout project: ``pyproject.toml`` at the root, the package ``top`` (unique per test)
    in ``src/`` on ``sys.path``; its modules are forgotten afterwards so no other test sees them."""
    top = f"shop{next(_names)}_{tmp_path.name.replace('-', '_')}"
    pkg = tmp_path / "src" / top
    files = {
        "__init__.py": "",
        "app.py": f"from portafn import App\nfrom {top} import prices\nfrom {top}.sub import deep\napp = App('shop')\n",
        "prices.py": "PRICES = {}\n",
        "prices.json": "{}\n",
        "script.py": "print('a command-line tool the app never imports')\n",
        "test_app.py": "",
        "conftest.py": "",
        ".env": "SECRET=1\n",
        "__pycache__/app.cpython-311.pyc": "",
        "templates/mail.html": "<p>hi</p>\n",
        "sub/__init__.py": "",
        "sub/deep.py": "",
        "sub/deep_test.json": "{}\n",
        "sub/rates.csv": "a,b\n",
        "unused/__init__.py": "",
        "unused/data.txt": "x\n",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\nversion = '0'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path, top
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


def _shipped(top: str) -> list[str]:
    return [rel.removeprefix(top + "/") for rel, _ in user_source(f"{top}.app")]


def test_ships_the_imported_modules_their_inits_and_their_data(project: tuple[Path, str]) -> None:
    _, top = project
    assert _shipped(top) == [
        "__init__.py",
        "app.py",
        "prices.json",
        "prices.py",
        "sub/__init__.py",
        "sub/deep.py",
        "sub/rates.csv",
    ]


def test_modules_this_process_imported_do_not_ship(project: tuple[Path, str]) -> None:
    _, top = project
    # A test session or a plugin may have imported more of the package than the app does.
    __import__(f"{top}.script")
    __import__(f"{top}.unused")
    shipped = _shipped(top)
    assert "script.py" not in shipped
    assert not [s for s in shipped if s.startswith("unused/")]


def test_include_adds_files_the_app_opens_at_run_time(project: tuple[Path, str]) -> None:
    root, top = project
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\nversion = "0"\n\n[tool.portafn]\ninclude = ["src/{top}/templates", "src/{top}/script.py"]\n'
    )
    shipped = _shipped(top)
    assert {"templates/mail.html", "script.py"} <= set(shipped)
    assert not [s for s in shipped if "__pycache__" in s]


def test_an_include_that_matches_nothing_is_an_error(project: tuple[Path, str]) -> None:
    root, top = project
    (root / "pyproject.toml").write_text('[tool.portafn]\ninclude = ["templatez/*.html"]\n')
    with pytest.raises(PackageError, match=r"templatez/\*\.html.*matches no file"):
        user_source(f"{top}.app")


def test_an_include_outside_the_import_root_is_an_error(project: tuple[Path, str]) -> None:
    root, top = project
    # README.md sits beside src/, so it has no place relative to the folder on sys.path.
    (root / "README.md").write_text("# shop\n")
    (root / "pyproject.toml").write_text('[tool.portafn]\ninclude = ["README.md"]\n')
    with pytest.raises(PackageError, match="outside"):
        user_source(f"{top}.app")


def test_an_app_that_fails_to_import_fresh_names_the_error(project: tuple[Path, str]) -> None:
    root, top = project
    (root / "src" / top / "broken.py").write_text("raise RuntimeError('needs state the packager had')\n")
    with pytest.raises(PackageError, match="needs state the packager had"):
        user_source(f"{top}.broken")
