"""Both samples package for every provider, within the providers' limits (issue 10's CI promise)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable

import pytest

from portafn.package import PackageResult


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_ingest_sample_packages(provider: str, ingest_builds: Callable[[str], PackageResult]) -> None:
    result = ingest_builds(provider)
    zips = [a.path for a in result.artifacts if a.path.suffix == ".zip"]
    assert zips, [a.path.name for a in result.artifacts]
    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
    # The user's code travels with the artifact, and the report says the size against the limits.
    assert any(n.endswith("samples/ingest/app.py") for n in names), names[:20]
    report = json.loads((result.out / "package-report.json").read_text())
    assert report["provider"] == provider
    for a in report["artifacts"]:
        if a["limit_zipped_bytes"] is not None:
            assert 0 < a["zipped_bytes"] <= a["limit_zipped_bytes"], a
