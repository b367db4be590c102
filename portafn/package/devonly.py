"""Test stand-ins never reach a production artifact: ``portafn/dev/`` and ``portafn_<p>/dev/``.

Those folders launch local servers (DynamoDB Local, moto, the Cosmos server, Azurite, the Google
emulators) for tests and ``portafn dev``; nothing deployed imports them. Every packager leaves them
out of what it ships, with these helpers:

- ``strip_site(site)`` on an installed ``site-packages`` folder (a Lambda zip, an Azure
  ``.python_packages``), before it is zipped or copied;
- ``strip_wheel(data)`` on a wheel shipped for a remote build (Cloud Functions, Azure ``wheels/``).

Both also drop the files' lines from ``*.dist-info/RECORD``, so an installer or ``pip check``
comparing RECORD with the files finds them equal.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

DEV_ONLY = re.compile(r"^portafn(?:_[A-Za-z0-9]+)?/dev/")
"""Archive or site-relative paths of test stand-ins: under ``portafn/dev/`` or ``portafn_<p>/dev/``."""


def is_dev_only(path: str) -> bool:
    """Whether the posix ``path`` (relative to site-packages or a wheel's root) is a test stand-in."""
    return DEV_ONLY.match(path) is not None


def strip_site(site: Path) -> list[str]:
    """Delete the test stand-ins from the installed ``site`` folder; return their relative paths."""
    removed: list[str] = []
    for top in sorted(site.glob("portafn*/dev")):
        rel_top = top.relative_to(site).as_posix() + "/"
        if not top.is_dir() or not is_dev_only(rel_top):
            continue
        for file in sorted(p for p in top.rglob("*") if p.is_file()):
            removed.append(file.relative_to(site).as_posix())
            file.unlink()
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
            folder.rmdir()
        top.rmdir()
    if removed:
        for record in site.glob("*.dist-info/RECORD"):
            record.write_text(_without_dev_lines(record.read_text()))
    return removed


def strip_wheel(data: bytes) -> bytes:
    """The wheel ``data`` less its test stand-ins and their RECORD lines; the same object when it
    has none, so a clean wheel stays byte-identical."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = src.infolist()
        if not any(is_dev_only(i.filename) for i in infos):
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in infos:
                if is_dev_only(info.filename):
                    continue
                content = src.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    content = _without_dev_lines(content.decode()).encode()
                dst.writestr(info, content)
    return out.getvalue()


def _without_dev_lines(record: str) -> str:
    return "".join(line for line in record.splitlines(keepends=True) if not is_dev_only(line))
