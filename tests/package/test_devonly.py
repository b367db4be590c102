"""Test stand-ins (``portafn/dev``, ``portafn_<p>/dev``) are removed from a site folder and a wheel."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from portafn.package.devonly import is_dev_only, strip_site, strip_wheel

FILES = {
    "portafn/__init__.py": "",
    "portafn/dev/__init__.py": "",
    "portafn/dev/servers.py": "",
    "portafn/devices.py": "",
    "portafn_aws/dev/dynamodb.py": "",
    "portafn_aws/dev/sub/x.py": "",
    "portafn_aws/store.py": "",
    "other/dev/keep.py": "",
}
RECORD = "".join(f"{name},sha256=x,0\n" for name in FILES) + "portafn-0.1.0.dist-info/RECORD,,\n"
KEPT = ["other/dev/keep.py", "portafn/__init__.py", "portafn/devices.py", "portafn_aws/store.py"]


def test_is_dev_only_matches_only_portafn_dev_folders() -> None:
    assert is_dev_only("portafn/dev/x.py")
    assert is_dev_only("portafn_gcp/dev/firestore.py")
    assert not is_dev_only("portafn/devices.py")
    assert not is_dev_only("other/dev/keep.py")
    assert not is_dev_only("site/portafn/dev/x.py")


def test_strip_site_removes_the_files_folders_and_record_lines(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    record = tmp_path / "portafn-0.1.0.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text(RECORD)
    removed = strip_site(tmp_path)
    assert removed == [
        "portafn/dev/__init__.py",
        "portafn/dev/servers.py",
        "portafn_aws/dev/dynamodb.py",
        "portafn_aws/dev/sub/x.py",
    ]
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted([*KEPT, "portafn-0.1.0.dist-info/RECORD"])
    assert not (tmp_path / "portafn" / "dev").exists()
    assert not (tmp_path / "portafn_aws" / "dev").exists()
    assert [ln.split(",")[0] for ln in record.read_text().splitlines()] == [
        *sorted(set(FILES) - set(removed), key=list(FILES).index),
        "portafn-0.1.0.dist-info/RECORD",
    ]


def test_strip_wheel_drops_dev_entries_and_their_record_lines() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in FILES.items():
            zf.writestr(name, text)
        zf.writestr("portafn-0.1.0.dist-info/RECORD", RECORD)
    stripped = strip_wheel(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(stripped)) as zf:
        assert sorted(zf.namelist()) == sorted([*KEPT, "portafn-0.1.0.dist-info/RECORD"])
        lines = zf.read("portafn-0.1.0.dist-info/RECORD").decode().splitlines()
    assert not [ln for ln in lines if "/dev/" in ln and not ln.startswith("other/")]


def test_a_wheel_without_stand_ins_is_returned_unchanged() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("portafn/__init__.py", "")
    data = buf.getvalue()
    assert strip_wheel(data) is data
