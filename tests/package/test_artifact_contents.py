"""Every entry of every artifact is on an allow-list (issue 15 item 7: artifacts ship only what runs).

For both samples and each provider, each archive entry must be one of: the provider's entry module
and config files, the sample's own imported modules (exactly), a workspace wheel for a remote
build, or a file some declared dependency's ``RECORD`` names, where the dependency is in the
closure of ``portafn`` and the provider's adapter. Separately, nothing under ``portafn/dev/`` or
``portafn_<p>/dev/`` (test stand-ins) ships, in a site folder or inside a shipped wheel.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from portafn.package import PackageResult
from tests.package.conftest import artifact

pytestmark = pytest.mark.emulator  # builds with uv, wheels from PyPI

SAMPLE_MODULES = {
    "orders": {"samples/__init__.py", "samples/orders/__init__.py", "samples/orders/app.py"},
    "ingest": {"samples/__init__.py", "samples/ingest/__init__.py", "samples/ingest/app.py"},
}
DEV = re.compile(r"^portafn(?:_[A-Za-z0-9]+)?/dev/")
OWN = re.compile(r"^portafn(?:_[A-Za-z0-9]+)?/")
WHEEL = re.compile(r"^wheels/portafn(?:_[a-z]+)?-[^/]+\.whl$")
PYC = re.compile(r"^(?P<dir>(?:.*/)?)__pycache__/(?P<mod>[^/.]+)\.cpython-\d+\.pyc$")


def compiled_source(name: str) -> str | None:
    """The module a ``__pycache__/<mod>.cpython-3NN.pyc`` entry was compiled from, else None."""
    match = PYC.match(name)
    return f"{match['dir']}{match['mod']}.py" if match else None


@dataclass(frozen=True)
class Layout:
    """Where a provider's archive keeps what."""

    archive: str
    files: frozenset[str]  # the entry module, templates and config the provider reads
    site: str | None  # prefix of the installed dependencies, None when built remotely
    wheels: bool  # workspace wheels under wheels/ for a remote build
    compiled: bool = False  # ships deliberate .pyc beside every module (the Lambda zip)


LAYOUTS = {
    "aws": Layout("lambda.zip", frozenset({"lambda_function.py"}), "", wheels=False, compiled=True),
    "azure": Layout(
        "functionapp.zip",
        frozenset({"function_app.py", "host.json", "requirements.txt", ".funcignore"}),
        ".python_packages/lib/site-packages/",
        wheels=True,
    ),
    "gcp": Layout("source.zip", frozenset({"main.py", "requirements.txt"}), None, wheels=True),
}
CASES = [(sample, provider) for sample in SAMPLE_MODULES for provider in LAYOUTS]
DEV_CASES = CASES


Builds = Callable[[str, str], PackageResult]


@pytest.fixture
def built(request: pytest.FixtureRequest, ingest_builds: Callable[[str], PackageResult]) -> Builds:
    """The session's build of a sample for a provider (orders: the shared per-provider builds)."""

    def get(sample: str, provider: str) -> PackageResult:
        if sample == "orders":
            result: PackageResult = request.getfixturevalue(f"{provider}_build")
            return result
        return ingest_builds(provider)

    return get


def declared(provider: str) -> set[str]:
    """The canonical names of ``portafn``, the adapter and everything they require, here."""
    todo = ["portafn", f"portafn-{provider}"]
    seen: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue  # a platform-only dependency not installed here; it cannot be in RECORD below
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def entries(result: PackageResult, provider: str) -> dict[str, bytes]:
    """Every entry of the provider's archive with its content."""
    with zipfile.ZipFile(artifact(result, LAYOUTS[provider].archive)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def site_files(names: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    """The installed dependencies' files, relative to site-packages."""
    return {n[len(prefix) :]: c for n, c in names.items() if n.startswith(prefix)}


def allowed_site(site: dict[str, bytes], allowed: set[str]) -> set[str]:
    """Every path named by the RECORD of an allowed distribution found in ``site``."""
    out: set[str] = set()
    for path, content in site.items():
        match = re.fullmatch(r"([^/]+)-[^/-]+\.dist-info/RECORD", path)
        if match and canonicalize_name(match.group(1)) in allowed:
            out |= {line.split(",")[0] for line in content.decode().splitlines() if line}
    return out


def wheel_entries(names: dict[str, bytes]) -> Iterator[tuple[str, str]]:
    """(wheel, entry) for every entry of every wheel the archive ships."""
    for name, content in names.items():
        if name.startswith("wheels/") and name.endswith(".whl"):
            with zipfile.ZipFile(io.BytesIO(content)) as zf:
                for inner in zf.namelist():
                    yield name, inner


def is_test_or_cache(path: str) -> bool:
    """A test file, a conftest, a tests/ folder or compiled bytecode."""
    parts = path.split("/")
    leaf = parts[-1]
    return (
        "__pycache__" in parts
        or "tests" in parts[:-1]
        or leaf.endswith((".pyc", ".pyo"))
        or leaf == "conftest.py"
        or leaf.startswith("test_")
    )


def requirement_names(text: str) -> set[str]:
    """The distributions ``requirements.txt`` pins (wheel paths aside)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("#", "./"))]
    return {canonicalize_name(Requirement(ln).name) for ln in lines}


def outside_allow_list(result: PackageResult, provider: str, sample: str) -> list[str]:
    """Every entry of the artifact that no rule allows, with why."""
    layout = LAYOUTS[provider]
    names = entries(result, provider)
    allowed = declared(provider)
    site = site_files(names, layout.site) if layout.site is not None else {}
    on_record = allowed_site(site, allowed)
    bad = [f"{n}: {why}" for n in sorted(names) if (why := refusal(n, layout, sample, on_record))]
    bad += [f"{w}!{e}: a test or cache" for w, e in wheel_entries(names) if is_test_or_cache(e)]
    if "requirements.txt" in names:
        extra = requirement_names(names["requirements.txt"].decode()) - allowed
        bad += [f"requirements.txt: {n} is not a declared dependency" for n in sorted(extra)]
    return bad


def refusal(name: str, layout: Layout, sample: str, on_record: set[str]) -> str | None:
    """Why the archive entry ``name`` is not allowed, or None when a rule allows it."""
    if layout.compiled and (source := compiled_source(name)) is not None:
        # Deliberate bytecode is allowed exactly where its module is.
        return refusal(source, layout, sample, on_record) and f"bytecode of {source}, which is not allowed"
    in_site = layout.site is not None and name.startswith(layout.site)
    rel = name[len(layout.site or "") :] if in_site else None
    if is_test_or_cache(name) and (rel is None or OWN.match(rel)):
        # Third-party distributions may ship their own tests (their RECORD allows them).
        return "a test or cache"
    if name in layout.files or name in SAMPLE_MODULES[sample] or (layout.wheels and WHEEL.match(name)):
        return None
    if rel is None or rel not in on_record:
        return "not the entry, the app's imported modules, or a declared dependency's file"
    return None


@pytest.mark.parametrize(("sample", "provider"), CASES)
def test_every_entry_is_on_the_allow_list(sample: str, provider: str, built: Builds) -> None:
    result = built(sample, provider)
    bad = outside_allow_list(result, provider, sample)
    assert not bad, f"{len(bad)} entries of {provider}/{sample} outside the allow-list:\n" + "\n".join(bad)


@pytest.mark.parametrize(("sample", "provider"), CASES)
def test_the_app_ships_exactly_its_imported_modules(sample: str, provider: str, built: Builds) -> None:
    names = entries(built(sample, provider), provider)
    user = {n for n in names if n.startswith("samples/")}
    if LAYOUTS[provider].compiled:
        # Each module's bytecode ships beside it, and nothing else is compiled.
        compiled = {n for n in user if compiled_source(n)}
        assert {compiled_source(n) for n in compiled} <= SAMPLE_MODULES[sample], sorted(compiled)
        user -= compiled
    # Not samples/demo.py, not the other sample, not the entry_* scripts, not tests or conftest.
    assert user == SAMPLE_MODULES[sample], sorted(user ^ SAMPLE_MODULES[sample])


@pytest.mark.parametrize(("sample", "provider"), DEV_CASES)
def test_no_test_stand_ins_ship(sample: str, provider: str, built: Builds) -> None:
    layout = LAYOUTS[provider]
    names = entries(built(sample, provider), provider)
    site = site_files(names, layout.site) if layout.site is not None else {}
    found = [f"{layout.site}{rel}" for rel in sorted(site) if DEV.match(rel)]
    found += [f"{w}!{e}" for w, e in wheel_entries(names) if DEV.match(e)]
    assert not found, f"{len(found)} test stand-ins in {provider}/{sample}:\n" + "\n".join(found)
