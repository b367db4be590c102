"""The provider sample events in ../shared/fixtures, read where they stand (never copied here).

``PORTAFN_FIXTURES`` overrides the location. Where the corpus is absent (a user's clone), the tests
that use it skip with that reason; the project's own events in tests/events run everywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OWN_EVENTS = ROOT / "tests" / "events"


def corpus_dir() -> Path:
    """Where the shared corpus is expected."""
    env = os.environ.get("PORTAFN_FIXTURES")
    return Path(env) if env else ROOT.parent / "shared" / "fixtures"


def absent(where: Path) -> str:
    """The skip reason for a missing corpus, as in a user's clone. Under CI (``CI`` set) it fails
    instead: CI runs beside shared/, so a corpus missing there is a broken set-up, not a reason."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the shared fixture corpus at {where} (or set PORTAFN_FIXTURES)", pytrace=False)
    return f"shared fixture corpus not found at {where}"


def _roles() -> dict[str, str]:
    path = corpus_dir() / "provenance.jsonl"
    if not path.exists():
        return {}
    roles: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            roles[entry.get("file", entry.get("path", ""))] = entry.get("role") or ""
    return roles


def fixture_params(provider: str, kind: str, *, exclude_roles: tuple[str, ...] = ("template",)) -> list[Any]:
    """pytest params, one per corpus file of ``provider/kind``; one skipping param if the corpus is absent.

    Files whose provenance role is in ``exclude_roles`` (by default SAM CLI templates with
    ``{{{placeholders}}}``) are left out; each param's id is the file name.
    """
    folder = corpus_dir() / provider / kind
    if not folder.is_dir():
        return [
            pytest.param(
                None,
                id=f"{provider}-{kind}-absent",
                marks=pytest.mark.skip(reason=absent(folder)),
            )
        ]
    roles = _roles()
    files = []
    for path in sorted(folder.iterdir()):
        rel = f"{provider}/{kind}/{path.name}"
        if roles.get(rel, "") in exclude_roles:
            continue
        files.append(pytest.param(path, id=path.name))
    return files


def load(path: Path) -> Any:
    """A fixture file's JSON (BOM tolerated)."""
    return json.loads(path.read_text(encoding="utf-8-sig"))
