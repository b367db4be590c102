"""Builds shared by the packaging tests: each provider's artifact is built once per session.

Builds fetch wheels from PyPI for the target platform (cached under ``.cache/wheels``); a build that
cannot reach the index fails with uv's message, never a skip.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from portafn.package import PackageResult, package

APP = "samples.orders.app:app"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

Builder = Callable[..., PackageResult]


@pytest.fixture(scope="session")
def progress_lines() -> list[str]:
    """Every progress line any build printed."""
    return []


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory, progress_lines: list[str]) -> Builder:
    """``build(provider, **options)``: package the orders sample into a fresh folder."""

    def run(provider: str, **options: object) -> PackageResult:
        out = tmp_path_factory.mktemp(f"pkg-{provider}")
        return package(APP, provider, out, progress=progress_lines.append, **options)  # type: ignore[arg-type]

    return run


@pytest.fixture(scope="session")
def aws_build(build: Builder) -> PackageResult:
    """The orders sample for Lambda, for this machine's Python on x86_64 (so it can run here)."""
    return build("aws", python=PYTHON, arch="x86_64")


@pytest.fixture(scope="session")
def azure_build(build: Builder) -> PackageResult:
    """The orders sample as an Azure function app for this machine's Python."""
    return build("azure", python=PYTHON)


@pytest.fixture(scope="session")
def gcp_build(build: Builder) -> PackageResult:
    """The orders sample as Cloud Functions source for this machine's Python."""
    return build("gcp", python=PYTHON)


SampleBuilds = Callable[[str, str], PackageResult]


@pytest.fixture(scope="session")
def sample_builds(tmp_path_factory: pytest.TempPathFactory, progress_lines: list[str]) -> SampleBuilds:
    """``sample_builds(sample, provider)``: ``samples/<sample>`` packaged for this machine's Python
    (x86_64, so a Lambda zip runs here), built once per sample and provider."""
    built: dict[tuple[str, str], PackageResult] = {}

    def get(sample: str, provider: str) -> PackageResult:
        if (sample, provider) not in built:
            out = tmp_path_factory.mktemp(f"pkg-{sample}-{provider}")
            built[sample, provider] = package(
                f"samples.{sample}.app:app", provider, out, progress=progress_lines.append, python=PYTHON
            )
        return built[sample, provider]

    return get


@pytest.fixture(scope="session")
def ingest_builds(sample_builds: SampleBuilds) -> Callable[[str], PackageResult]:
    """``ingest_builds(provider)``: the ingest sample for this machine's Python, built once per provider."""
    return lambda provider: sample_builds("ingest", provider)


def artifact(result: PackageResult, name: str) -> Path:
    """The path of the artifact called ``name`` in a build."""
    for a in result.artifacts:
        if a.path.name == name:
            return a.path
    raise AssertionError(f"{name} not among {[a.path.name for a in result.artifacts]}")
