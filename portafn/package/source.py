"""Which files of the user's own code an artifact ships: what the app imports, and nothing else.

The modules are those of the user's top-level package that are in ``sys.modules`` once the app
module is imported, with every ``__init__.py`` on their path. They are found in a fresh
interpreter, never in the packaging process: a test session or a plugin may have imported other
modules of the same package (scripts, other apps, tests), and what the artifact needs must not
depend on that. Non-Python files sitting next to those modules (templates, JSON) ship too, less
tests, ``conftest.py``, hidden files and caches.

A file the app opens or imports only at run time (``importlib.import_module(name)`` in a
handler, a template found by a computed path) is invisible to this; list it in the project's
``pyproject.toml``::

    [tool.portafn]
    include = ["myapp/templates/**/*.html", "myapp/plugins/*.py"]

Patterns are globs relative to the folder of that ``pyproject.toml`` (the nearest one at or above
the folder holding the package); one that matches nothing is an error, so a typo never ships a
silently incomplete artifact.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

from portafn.package.errors import PackageError

CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", *importlib.machinery.EXTENSION_SUFFIXES)
"""Python code: it ships when it is imported (or included), never for sitting in a folder."""
CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".portafn"})

# Run in a fresh interpreter: import the app module on the packaging process's path, then list
# the files of every loaded module of its top-level package.
_PROBE = """
import importlib, json, sys
path, module, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path[:] = path
importlib.import_module(module)
top = module.split(".")[0]
files = [getattr(m, "__file__", None) for n, m in list(sys.modules.items()) if n == top or n.startswith(top + ".")]
with open(out, "w") as f:
    json.dump(sorted(f for f in files if f), f)
"""


def user_source(module: str) -> list[tuple[str, Path]]:
    """The user's files the app ``module`` needs, as (archive path, source), sorted.

    Archive paths are relative to the folder on ``sys.path`` that holds the top-level package (or
    single module), so ``samples.orders.app`` ships as ``samples/orders/app.py``.
    """
    top = module.split(".")[0]
    imported = sys.modules.get(top) or importlib.import_module(top)
    roots = [Path(p).resolve() for p in getattr(imported, "__path__", [])]
    if not roots:
        file = getattr(imported, "__file__", None)
        if not file:
            raise PackageError(f"cannot find the source of {top!r}")
        roots = [Path(file).resolve()]
    base = roots[0].parent
    included = included_files(base)  # first: a bad pattern fails before the import probe runs
    found = {p for p in loaded_files(module) if _under_any(p, roots)}
    found |= _package_inits(found, roots)
    found |= _data_files(found)
    found |= included
    return sorted(((p.relative_to(base).as_posix(), p) for p in found), key=lambda item: item[0])


def loaded_files(module: str) -> list[Path]:
    """The files of the modules of ``module``'s top-level package loaded by importing ``module``
    in a fresh interpreter on this process's ``sys.path``."""
    with tempfile.TemporaryDirectory(prefix="portafn-probe-") as tmp:
        out = Path(tmp) / "modules.json"
        # -B: probing must not write __pycache__ into the user's tree.
        cmd = [sys.executable, "-B", "-c", _PROBE, json.dumps(_search_path()), module, str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.is_file():
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise PackageError(f"importing {module} in a fresh interpreter failed:\n{tail}")
        return [Path(f).resolve() for f in json.loads(out.read_text())]


def included_files(base: Path) -> set[Path]:
    """The files named by ``[tool.portafn] include`` in the nearest ``pyproject.toml``."""
    pyproject = _nearest_pyproject(base)
    if pyproject is None:
        return set()
    patterns = _include_patterns(pyproject)
    return _expand(pyproject.parent, patterns, base)


def _search_path() -> list[str]:
    # The probe resolves imports as this process does, including the working directory that
    # `load_app` puts first.
    cwd = os.getcwd()
    return [cwd, *(p for p in sys.path if p != cwd)]


def _under_any(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _package_inits(files: Iterable[Path], roots: Sequence[Path]) -> set[Path]:
    """Every ``__init__.py`` between a module and its package root, so each import resolves."""
    inits: set[Path] = set()
    for file in files:
        for root in roots:
            if not file.is_relative_to(root):
                continue
            folder = file.parent
            while folder.is_relative_to(root):
                init = folder / "__init__.py"
                if init.is_file():
                    inits.add(init)
                folder = folder.parent
    return inits


def _data_files(modules: Iterable[Path]) -> set[Path]:
    """Non-Python files in the folders of ``modules`` (not below them: a subfolder is a package
    or a data tree the app names with ``include``)."""
    found: set[Path] = set()
    for folder in {m.parent for m in modules}:
        for entry in folder.iterdir():
            if entry.is_file() and _is_data(entry.name):
                found.add(entry.resolve())
    return found


def _is_data(name: str) -> bool:
    if name.startswith(".") or name.endswith(CODE_SUFFIXES):
        return False
    stem = name.rsplit(".", 1)[0]
    return not (stem == "conftest" or stem.startswith("test_") or stem.endswith("_test"))


def _nearest_pyproject(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _include_patterns(pyproject: Path) -> list[str]:
    try:
        data = tomllib.loads(pyproject.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PackageError(f"{pyproject}: {exc}") from None
    patterns = data.get("tool", {}).get("portafn", {}).get("include", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise PackageError(f"{pyproject}: [tool.portafn] include must be a list of glob strings")
    return patterns


def _expand(folder: Path, patterns: Sequence[str], base: Path) -> set[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        matched = [p.resolve() for p in sorted(folder.glob(pattern))]
        files = {f for p in matched for f in ([p] if p.is_file() else _tree(p))}
        if not files:
            raise PackageError(f"[tool.portafn] include {pattern!r} matches no file under {folder}")
        outside = sorted(str(f) for f in files if not f.is_relative_to(base))
        if outside:
            raise PackageError(
                f"[tool.portafn] include {pattern!r} matches files outside {base}, "
                f"which the artifact cannot place: {', '.join(outside[:3])}"
            )
        found |= files
    return found


def _tree(folder: Path) -> list[Path]:
    """The files under ``folder``, less caches and compiled bytecode."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in CACHE_DIRS]
        out += [Path(dirpath, n).resolve() for n in filenames if not n.endswith((".pyc", ".pyo"))]
    return out
