"""Bytecode in a deployment archive: one ``.pyc`` per module, the same bytes every build, used as is."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from portafn.package.bytecode import pyc_name, with_bytecode
from portafn.package.zipper import write_zip

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _tree(root: Path) -> list[tuple[str, Path]]:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("VALUE = {'a', 'b', 'c'}\nWORDS = frozenset({'x', 'y'})\n")
    (root / "pkg" / "broken.py").write_text("def (:\n")
    (root / "pkg" / "data.txt").write_text("not code")
    return [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()]


def test_every_module_gets_unchecked_hash_bytecode_and_a_broken_one_a_note(tmp_path: Path) -> None:
    notes: list[str] = []
    files, extra = with_bytecode(_tree(tmp_path / "src"), {"entry.py": b"import pkg.mod\n"}, PYTHON, notes)
    names = set(extra)
    assert pyc_name("pkg/mod.py", PYTHON) in names
    assert pyc_name("pkg/__init__.py", PYTHON) in names
    assert pyc_name("entry.py", PYTHON) in names
    assert pyc_name("pkg/broken.py", PYTHON) not in names
    assert notes == [f"1 source file(s) do not compile for CPython {PYTHON}; shipped without .pyc"]
    flags = int.from_bytes(extra[pyc_name("pkg/mod.py", PYTHON)][4:8], "little")
    assert flags == 0b01  # hash-based, source not checked (PEP 552)
    assert [name for name, _ in files] == ["pkg/__init__.py", "pkg/broken.py", "pkg/data.txt", "pkg/mod.py"]


def test_the_same_sources_give_the_same_archive(tmp_path: Path) -> None:
    files = _tree(tmp_path / "src")
    for out in ("a.zip", "b.zip"):
        write_zip(tmp_path / out, *with_bytecode(files, {}, PYTHON, []))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_python_loads_the_shipped_bytecode_without_checking_the_source(tmp_path: Path) -> None:
    write_zip(tmp_path / "app.zip", *with_bytecode(_tree(tmp_path / "src"), {}, PYTHON, []))
    task = tmp_path / "task"
    with zipfile.ZipFile(tmp_path / "app.zip") as zf:
        zf.extractall(task)
    # Changed after the build: only a check of the source would notice, and UNCHECKED_HASH makes none.
    (task / "pkg" / "mod.py").write_text("VALUE = 'changed'\n")
    out = subprocess.run(
        [sys.executable, "-E", "-s", "-B", "-c", "import pkg.mod; print(sorted(pkg.mod.VALUE))"],
        cwd=task,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "['a', 'b', 'c']"
