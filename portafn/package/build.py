"""The provider-neutral steps of ``portafn package``: load, check, fetch, collect, hand over, measure.

A provider's packager module (named by its plugin, ``portafn.plugins.Provider.packager``) says which adapter distribution
to ship, what the runtime already has, its size limits and glibc, and writes its own layout and
templates from a ``BuildContext``. Everything here is shared.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol

from portafn.app import App
from portafn.package.errors import CapabilityMissing, LimitExceeded, PackageError
from portafn.package.extras import extra_requirements
from portafn.package.source import user_source
from portafn.package.wheels import (
    Progress,
    Target,
    build_workspace_wheels,
    install_for_target,
    locked_constraints,
    make_target,
    portafn_workspace,
    stderr_progress,
)
from portafn.package.zipper import unzipped_size


@dataclass(frozen=True, slots=True)
class Limits:
    """A provider's documented size limits in bytes (0: none documented)."""

    zipped: int
    unzipped: int
    source: str


@dataclass(slots=True)
class Artifact:
    """One thing ``portafn package`` wrote, with its sizes when it is a deployable archive."""

    path: Path
    role: str
    zipped: int = 0
    unzipped: int = 0
    limits: Limits | None = None


@dataclass(slots=True)
class BuildContext:
    """What a provider module needs to write its layout."""

    app: App
    module: str
    attr: str
    target: Target
    out: Path
    work: Path
    site: Path
    source: list[tuple[str, Path]]
    installed: list[str]
    wheels: list[Path]
    progress: Progress
    store_url: str = ""
    notes: list[str] = field(default_factory=list)


class ProviderModule(Protocol):
    """The shape of a provider's packager module (``portafn_<provider>.package``)."""

    NAME: str
    ADAPTER: str
    STORE_SCHEME: str
    EXCLUDE: tuple[str, ...]
    LIMITS: Limits
    DEFAULT_ARCH: str
    ARCHES: tuple[str, ...]

    def glibc(self, python: str) -> str: ...

    def write(self, ctx: BuildContext) -> list[Artifact]: ...


@dataclass(slots=True)
class PackageResult:
    """What a ``package`` call produced."""

    provider: str
    out: Path
    target: Target
    artifacts: list[Artifact]
    installed: list[str]

    def report(self) -> str:
        """The size report, one line per artifact, against the provider's limits."""
        lines = [f"{self.provider} package for CPython {self.target.python} on {self.target.platform}:"]
        for a in self.artifacts:
            rel = a.path.relative_to(self.out) if a.path.is_relative_to(self.out) else a.path
            if a.limits is None:
                lines.append(f"  {rel!s:<28} {a.role}")
                continue
            zl = f"{_mb(a.limits.zipped)} zipped" if a.limits.zipped else "no zipped limit"
            ul = f"{_mb(a.limits.unzipped)} unzipped" if a.limits.unzipped else "no unzipped limit"
            lines.append(
                f"  {rel!s:<28} {_mb(a.zipped):>9} zipped {_mb(a.unzipped):>9} unzipped"
                f"   limit {zl} / {ul}   ok"
            )
        return "\n".join(lines)


def provider_module(name: str) -> ProviderModule:
    """The packager module of the provider ``name``, found through the plugin registry."""
    from portafn.plugins import PluginError, load, packagers, provider

    try:
        ref = provider(name).packager
    except PluginError as exc:
        raise PackageError(f"--provider {name}: {exc}") from None
    if ref is None:
        raise PackageError(f"--provider {name}: it has no packager; choose {', '.join(packagers())}")
    module: ModuleType = load(ref)
    return module


def package(
    app_ref: str,
    provider: str,
    out: Path,
    *,
    python: str | None = None,
    arch: str | None = None,
    requirements: Sequence[Path] = (),
    progress: Progress = stderr_progress,
    load: Callable[[str], App] | None = None,
) -> PackageResult:
    """Build what ``provider`` deploys for the app ``app_ref`` (``module:attr``) into ``out``."""
    from portafn.cli.loading import load_app

    spec = provider_module(provider)
    module, _, attr = app_ref.partition(":")
    attr = attr or "app"
    app = (load or load_app)(app_ref)
    python = python or f"{sys.version_info.major}.{sys.version_info.minor}"
    arch = arch or spec.DEFAULT_ARCH
    if arch not in spec.ARCHES:
        raise PackageError(f"{provider} runs Python on {', '.join(spec.ARCHES)}, not {arch}")
    target = make_target(python, arch, spec.glibc(python))
    check_capabilities(app, spec, progress)

    out = out.resolve()
    work = out / ".build"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cache = _cache_dir()
    wheels = build_workspace_wheels(list(dict.fromkeys(["portafn", spec.ADAPTER])), work / "wheels", progress)
    constraints = locked_constraints([spec.ADAPTER], work / "constraints.txt")
    site = work / "site"
    if extras := extra_requirements(app):
        # Optional features the app declares import their library on use: ship it anyway.
        (work / "extras.txt").write_text("\n".join(extras) + "\n")
        requirements = [*requirements, work / "extras.txt"]
        progress(f"declared features need: {', '.join(extras)}")
    installed = install_for_target(
        target,
        site,
        wheels=wheels,
        requirements=requirements,
        constraints=constraints,
        exclude=spec.EXCLUDE,
        cache=cache,
        progress=progress,
    )
    progress(f"{len(installed)} distributions for {target.platform}: {', '.join(installed)}")
    ctx = BuildContext(
        app=app,
        module=module,
        attr=attr,
        target=target,
        out=out,
        work=work,
        site=site,
        source=user_source(module),
        installed=installed,
        wheels=wheels,
        progress=progress,
    )
    artifacts = spec.write(ctx)
    for artifact in artifacts:
        enforce_limits(provider, artifact)
    for note in ctx.notes:
        progress(f"note: {note}")
    result = PackageResult(provider, out, target, artifacts, installed)
    (out / "package-report.json").write_text(
        json.dumps(_report_json(result), indent=2, sort_keys=True) + "\n"
    )
    shutil.rmtree(work)
    return result


def check_capabilities(app: App, spec: ProviderModule, progress: Progress) -> None:
    """Fail when the provider's store lacks a capability a table needs (when the store is installed)."""
    from portafn.capcheck import check
    from portafn.store.registry import StoreConfigError, store_class

    try:
        cls = store_class(f"{spec.STORE_SCHEME}://")
    except StoreConfigError:
        progress(f"{spec.STORE_SCHEME} store not installed here; capability check skipped")
        return
    capabilities = cls.capabilities  # every store declares them on the class (docs/stores.md)
    gaps = check(app, capabilities)
    if gaps:
        raise CapabilityMissing(
            spec.NAME, spec.STORE_SCHEME, [(g.table, g.capability.value, g.reason) for g in gaps]
        )


def enforce_limits(provider: str, artifact: Artifact) -> None:
    """Raise ``LimitExceeded`` when an archive is over the provider's limit."""
    limits = artifact.limits
    if limits is None:
        return
    name = artifact.path.name
    if limits.zipped and artifact.zipped > limits.zipped:
        raise LimitExceeded(provider, name, "zipped", artifact.zipped, limits.zipped)
    if limits.unzipped and artifact.unzipped > limits.unzipped:
        raise LimitExceeded(provider, name, "unzipped", artifact.unzipped, limits.unzipped)


def measure(path: Path, role: str, limits: Limits) -> Artifact:
    """An archive artifact with its zipped and unzipped sizes."""
    return Artifact(path, role, path.stat().st_size, unzipped_size(path), limits)


def _cache_dir() -> Path:
    root = portafn_workspace() or Path.cwd()
    path = root / ".cache" / "wheels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"


def _report_json(result: PackageResult) -> dict[str, object]:
    return {
        "provider": result.provider,
        "python": result.target.python,
        "platform": result.target.platform,
        "installed": result.installed,
        "artifacts": [
            {
                "path": a.path.relative_to(result.out).as_posix(),
                "role": a.role,
                "zipped_bytes": a.zipped,
                "unzipped_bytes": a.unzipped,
                "limit_zipped_bytes": a.limits.zipped if a.limits else None,
                "limit_unzipped_bytes": a.limits.unzipped if a.limits else None,
            }
            for a in result.artifacts
        ],
    }
