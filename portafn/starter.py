"""The files ``portafn new NAME`` writes: a small app, its test, a pyproject and a README.

The pyproject configures the portafn pytest plugin (``portafn_providers``, ``portafn_stores``) and
puts the project's root on ``pythonpath``, so ``pytest`` and ``portafn test`` import the package
from the working directory with nothing installed but portafn.
"""

from __future__ import annotations

import re
from pathlib import Path

_PROJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")


class StarterError(ValueError):
    """The project cannot be written (a bad name, or the directory is not empty)."""


def package_name(project: str) -> str:
    """The Python package of a project: its name with '-' as '_', in lower case."""
    return project.replace("-", "_").lower()


def files(project: str) -> dict[str, str]:
    """Relative path -> content of every starter file."""
    pkg = package_name(project)
    extras = provider_extras()
    return {
        "pyproject.toml": PYPROJECT.format(
            project=project, pkg=pkg, extras="".join(f'{n} = ["{d}"]\n' for n, d in extras.items())
        ),
        f"{pkg}/__init__.py": f'"""The {project} functions."""\n',
        f"{pkg}/app.py": APP.format(project=project),
        "tests/conftest.py": CONFTEST.format(pkg=pkg),
        "tests/test_app.py": TEST,
        "README.md": README.format(project=project, pkg=pkg, extra_names=",".join(extras) or "..."),
        ".gitignore": ".portafn/\n.venv/\n__pycache__/\ndist/\n.env\n",
    }


def provider_extras() -> dict[str, str]:
    """Extra name -> distribution, one per installed provider plugin (from the registry)."""
    from portafn.plugins import LOCAL, providers

    return {
        p.name: p.distribution for p in sorted(providers().values(), key=lambda p: p.name) if p.name != LOCAL
    }


def write(project: str, parent: Path) -> Path:
    """Write the starter into ``parent/project``; the directory made."""
    if not _PROJECT.match(project):
        raise StarterError(f"{project!r}: a project name is a letter then letters, digits, '_' or '-'")
    root = parent / project
    if root.exists() and any(root.iterdir()):
        raise StarterError(f"{root} exists and is not empty")
    for rel, text in files(project).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PYPROJECT = """\
[project]
name = "{project}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["portafn"]

[project.optional-dependencies]
# One extra per provider you deploy to; `portafn test` runs on each one installed.
{extras}
[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]            # import {pkg} from the project root, installed or not
# The portafn pytest plugin's matrix when no --portafn-* option is given.
portafn_providers = "local"
portafn_stores = "sqlite"
"""

APP = '''\
"""The {project} app: functions declared once, run on any provider."""

from pydantic import BaseModel, Field

from portafn import App, HttpError

app = App("{project}")


class Item(BaseModel):
    sku: str
    name: str = Field(min_length=1)
    price_cents: int = Field(ge=0)


items = app.table(Item, partition_key="sku")


@app.http("PUT", "/items/{{sku}}")
def put_item(sku: str, body: Item) -> Item:
    if body.sku != sku:
        raise HttpError(400, "sku in the path and the body differ")
    items.put(body)
    return body


@app.http("GET", "/items/{{sku}}")
def get_item(sku: str) -> Item:
    item = items.get(sku)
    if item is None:
        raise HttpError(404, "no such item")
    return item
'''

CONFTEST = '''\
import pytest

from {pkg}.app import app


@pytest.fixture
def portafn_app():
    """The app the portafn plugin runs on every selected provider and store."""
    return app
'''

TEST = """\
def test_put_then_get(portafn_client):
    item = {"sku": "a1", "name": "pen", "price_cents": 120}
    assert portafn_client.put("/items/a1", json=item).status == 200
    got = portafn_client.get("/items/a1")
    assert got.status == 200
    assert got.json() == item


def test_missing_item_is_404(portafn_client):
    assert portafn_client.get("/items/nope").status == 404


def test_bad_body_names_the_field(portafn_client):
    answer = portafn_client.put("/items/a1", json={"sku": "a1", "name": "", "price_cents": 1})
    assert answer.status == 400
    assert ["body", "name"] in [e["loc"] for e in answer.json()["errors"]]
"""

README = """\
# {project}

Made with `portafn new {project}`.

```bash
python -m venv .venv && . .venv/bin/activate
pip install -e '.[{extra_names}]'     # the providers you deploy to
pip install pytest
portafn test                          # every installed provider, on SQLite
portafn test --stores sqlite,SCHEME   # a cloud store too (`portafn dev install` fetches its server)
portafn serve {pkg}.app:app           # http://127.0.0.1:8000
portafn package {pkg}.app:app --provider NAME --out dist
```

Settings and secrets: declare them with `app.settings(Config)` (see the portafn docs, "Settings and
secrets"); locally they come from environment variables or a `.env` file, and
`portafn check {pkg}.app:app --store sqlite:///x.db` names any that are missing.
"""
