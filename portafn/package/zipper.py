"""A deterministic zip writer: the same files give the same bytes, on any machine, at any time.

Entries are sorted by path, stamped 1980-01-01 00:00 (the earliest time zip can store), marked as
made on Unix with fixed permissions (0644, or 0755 when the source file is executable) and
compressed at a fixed level, so neither the clock, the umask nor directory listing order leaks in.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

EPOCH = (1980, 1, 1, 0, 0, 0)
_UNIX = 3  # ZipInfo.create_system value for Unix, so external_attr carries POSIX modes.
_FILE = stat.S_IFREG | 0o644
_EXEC = stat.S_IFREG | 0o755


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as (posix path inside the archive, source path), sorted."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return found


def write_zip(target: Path, files: Iterable[tuple[str, Path]], extra: Mapping[str, bytes] = {}) -> None:
    """Write ``files`` (archive path, source) and ``extra`` (archive path, content) to ``target``.

    Later duplicates of a path are an error: a silent overwrite would hide a packaging bug.
    """
    entries: dict[str, Path | bytes] = {}
    for arcname, source in files:
        _add(entries, arcname, source)
    for arcname, content in extra.items():
        _add(entries, arcname, content)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname in sorted(entries):
            value = entries[arcname]
            mode = _FILE
            if isinstance(value, Path):
                if os.access(value, os.X_OK):
                    mode = _EXEC
                data = value.read_bytes()
            else:
                data = value
            info = zipfile.ZipInfo(arcname, date_time=EPOCH)
            info.create_system = _UNIX
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(target)


def unzipped_size(path: Path) -> int:
    """The total size of a zip's entries once extracted."""
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


def _add(entries: dict[str, Path | bytes], arcname: str, value: Path | bytes) -> None:
    if arcname.startswith("/") or ".." in arcname.split("/"):
        raise ValueError(f"unsafe archive path {arcname!r}")
    if arcname in entries:
        raise ValueError(f"two files would be stored as {arcname!r}")
    entries[arcname] = value
