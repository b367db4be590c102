"""The core names no provider in a code path: providers arrive only through ``portafn.plugins``.

Prose (docstrings, comments) may name clouds to explain; identifiers, imports and string values
that code uses may not. This is the issue's grep, made precise with the syntax tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "portafn"
PROVIDER_WORDS = re.compile(r"dynamodb|cosmos|firestore|azurite|boto|azure|google|lambda", re.IGNORECASE)
# Google as a token issuer, not as a provider: its IAP assertions and ID tokens are verified with
# its published keys wherever a function runs (a Cloud Scheduler job may call a Lambda), so the
# issuer's URLs and names live in the core like any other issuer's would. No SDK, no plugin.
ISSUER_MODULES = {Path("portafn", "auth", "google.py")}


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _code_words(tree: ast.AST) -> list[tuple[int, str]]:
    docs = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((node.lineno, node.name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            found.append((node.lineno, node.value))
    return found


def test_no_provider_is_named_in_core_code() -> None:
    offenders = [
        f"{path.relative_to(CORE.parent)}:{line}: {text[:80]!r}"
        for path in sorted(CORE.rglob("*.py"))
        if path.relative_to(CORE.parent) not in ISSUER_MODULES
        for line, text in _code_words(ast.parse(path.read_text(), str(path)))
        if PROVIDER_WORDS.search(text)
    ]
    assert offenders == [], "provider names in core code:\n" + "\n".join(offenders)


def test_the_check_sees_a_provider_name_in_code() -> None:
    sample = 'import boto3\nX = "cosmos://a"\ndef f():\n    """Talks to Firestore."""\n'
    words = [t for _, t in _code_words(ast.parse(sample)) if PROVIDER_WORDS.search(t)]
    assert words == ["boto3", "cosmos://a"]


def test_issuer_modules_import_only_the_core_and_the_standard_library() -> None:
    import sys

    for rel in ISSUER_MODULES:
        tree = ast.parse((CORE.parent / rel).read_text())
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        foreign = [
            m for m in modules if m.split(".")[0] not in {"portafn", "__future__", *sys.stdlib_module_names}
        ]
        assert foreign == [], f"{rel} imports {foreign}"
