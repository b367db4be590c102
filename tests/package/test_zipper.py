"""The deterministic zip writer: same files, same bytes, whatever the clock, order or umask."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from portafn.package.zipper import EPOCH, tree_files, write_zip


def _tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}\n")


def test_same_files_give_byte_identical_zips(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    names = ["pkg/__init__.py", "pkg/mod.py", "z.txt", "pkg/sub/data.json"]
    _tree(a, names)
    _tree(b, list(reversed(names)))  # created in another order
    os.utime(b / "z.txt", (2_000_000_000, 2_000_000_000))  # and with other times
    (b / "pkg" / "mod.py").chmod(0o600)  # and another umask
    (a / "pkg" / "mod.py").chmod(0o664)
    write_zip(tmp_path / "a.zip", tree_files(a), {"entry.py": b"x = 1\n"})
    write_zip(tmp_path / "b.zip", tree_files(b), {"entry.py": b"x = 1\n"})
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_entries_are_sorted_dated_1980_and_mode_0644(tmp_path: Path) -> None:
    _tree(tmp_path / "t", ["b.py", "a/c.py", "a/b.py"])
    script = tmp_path / "t" / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o700)
    write_zip(tmp_path / "out.zip", tree_files(tmp_path / "t"))
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["a/b.py", "a/c.py", "b.py", "run.sh"]
    assert {i.date_time for i in infos} == {EPOCH}
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes == {"a/b.py": 0o644, "a/c.py": 0o644, "b.py": 0o644, "run.sh": 0o755}
    assert {i.create_system for i in infos} == {3}


def test_a_path_stored_twice_is_an_error(tmp_path: Path) -> None:
    _tree(tmp_path / "t", ["x.py"])
    with pytest.raises(ValueError, match=r"x\.py"):
        write_zip(tmp_path / "o.zip", tree_files(tmp_path / "t"), {"x.py": b""})
