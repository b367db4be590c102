"""The API reference reads as Markdown: each page has prose, then a table of every name it documents
that matches the code's docstrings (``docs/reference_tables.py`` regenerates it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "reference_tables.py"


def tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_tables", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = tables()


@pytest.mark.parametrize("page", REF.PAGES, ids=[p.name for p in REF.PAGES])
def test_each_reference_page_has_prose_and_a_current_table(page: Path) -> None:
    text = page.read_text()
    intro = text.split("<!-- names -->")[0]
    prose = [ln for ln in intro.splitlines()[1:] if ln.strip()]
    assert len(" ".join(prose)) > 300, "a short prose introduction before the table"
    assert text == REF.render(text), f"stale table: run python docs/reference_tables.py ({page.name})"
    for ref in REF.DIRECTIVE.findall(text):
        assert f"[`{ref[0]}`]" in text.split("<!-- /names -->")[0]
