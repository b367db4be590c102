"""Artifact sizes: what ``portafn package`` builds for each provider, from its own size report."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.common import Section, mib, progress

APP = "samples.orders.app:app"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LAMBDA_GOAL = 5 * 10**6  # the goal: the orders sample's Lambda zip under 5 MB


def build(out: Path) -> tuple[Section, dict[str, Path]]:
    """Package the orders sample for every provider into ``out``; the size table and the archives."""
    from portafn.package import PackageError, package

    section = Section(
        "artifacts",
        "Artifact sizes: the orders sample, `portafn package`",
        ["artifact", "zipped MiB", "unzipped MiB", "provider limit (zipped / unzipped)"],
    )
    archives: dict[str, Path] = {}
    for provider in ("aws", "azure", "gcp"):
        progress(f"packaging the orders sample for {provider}")
        options: dict[str, str] = {"python": PYTHON}
        if provider == "aws":
            options["arch"] = "x86_64"  # this machine's, so the cold-start benchmark can run it
        try:
            result = package(APP, provider, out / provider, progress=lambda _line: None, **options)  # type: ignore[arg-type]
        except PackageError as exc:
            section.add(provider, artifact=f"build failed: {exc}")
            continue
        for artifact in result.artifacts:
            if not artifact.zipped:
                continue
            archives[provider] = artifact.path
            limits = artifact.limits
            limit = (
                f"{mib(limits.zipped) if limits.zipped else '-'} / {mib(limits.unzipped) if limits.unzipped else '-'}"
                if limits
                else ""
            )
            section.add(
                provider,
                artifact=artifact.path.name,
                **{
                    "zipped MiB": mib(artifact.zipped),
                    "unzipped MiB": mib(artifact.unzipped),
                    "provider limit (zipped / unzipped)": limit,
                },
            )
    section.notes.append(
        f"Built for CPython {PYTHON} (AWS: x86_64). Sizes are those `portafn package` reports; "
        f"the goal for the Lambda zip is under {LAMBDA_GOAL / 1e6:.0f} MB ({mib(LAMBDA_GOAL)} MiB). "
        "The Lambda zip leaves out boto3/botocore (the runtime provides them); the Azure folder carries its "
        "dependencies; the GCP source lists them in requirements.txt (Cloud Build installs them), so its zip is small."
    )
    return section, archives
