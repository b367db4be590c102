"""The name tables of docs/reference/*.md, made from the pages' mkdocstrings directives.

Each reference page reads as Markdown too: a prose introduction, then a table with one line per
public name (the first paragraph of its docstring), then the ``:::`` directives the built site
expands. ``python docs/reference_tables.py`` rewrites the tables; ``tests/docs/test_reference.py``
fails when one no longer matches the code.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

PAGES = sorted((Path(__file__).parent / "reference").glob("*.md"))
DIRECTIVE = re.compile(r"^::: ([\w.]+)(?:\n    options:\n      members: (\[[^\]]*\]|false))?", re.M)
TABLE = re.compile(r"<!-- names -->\n.*?<!-- /names -->\n", re.S)


def summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring on one line, Markdown-safe."""
    doc = (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ")
    return re.sub(r"``([^`]+)``", r"`\1`", doc).replace("|", "\\|")


def resolve(ref: str) -> Any:
    """The module, class or function a dotted directive names."""
    try:
        return importlib.import_module(ref)
    except ImportError:
        module, _, attr = ref.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def module_names(module: Any) -> list[str]:
    """The public classes and functions defined in ``module``, in source order."""
    source = inspect.getsource(module)
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        at = re.search(rf"^(?:class|def) {name}\b", source, re.M)
        if at is not None and getattr(obj, "__module__", None) == module.__name__:
            found.append((at.start(), name))
    return [name for _, name in sorted(found)]


def rows(page: str) -> list[str]:
    """The table for one page's directives."""
    out = ["| name | what it is |", "|---|---|"]
    for m in DIRECTIVE.finditer(page):
        ref, members = m.group(1), m.group(2)
        obj = resolve(ref)
        out.append(f"| [`{ref}`](#{ref}) | {summary(obj)} |")
        if not inspect.ismodule(obj) or members == "false":
            continue
        names = [n.strip() for n in members.strip("[]").split(",")] if members else module_names(obj)
        out += [f"| &nbsp;&nbsp;`{name}` | {summary(getattr(obj, name))} |" for name in names]
    return out


def render(page: str) -> str:
    """``page`` with its table replaced by the current one."""
    table = "<!-- names -->\n" + "\n".join(rows(page)) + "\n<!-- /names -->\n"
    return TABLE.sub(lambda _: table, page, count=1)


if __name__ == "__main__":
    for path in PAGES:
        path.write_text(render(path.read_text()))
        print(f"wrote {path}", file=sys.stderr)
