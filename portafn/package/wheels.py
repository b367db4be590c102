"""Dependencies for a target platform: the workspace's own wheels, and locked wheels from the index.

Everything is installed with ``uv pip install --target`` for the *target* platform and Python
(``--python-platform``/``--python-version`` with ``--only-binary :all:``), never from the build
machine's environment, so a Mac builds a working Lambda zip. Versions come from ``uv.lock`` when the
app lives in a uv project (``uv export`` gives them as constraints). Downloads are cached under
``.cache/wheels`` in the project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from portafn.package.errors import PackageError, PlatformWheelMissing, ToolFailed

Progress = Callable[[str], None]

ARCHES = {"x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
PYTHONS = ("3.11", "3.12", "3.13")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the artifact runs: CPython version, CPU and the oldest glibc the platform has."""

    python: str
    arch: str  # x86_64 or aarch64
    glibc: str = "2_28"

    @property
    def platform(self) -> str:
        """The ``--python-platform`` value uv takes, e.g. ``aarch64-manylinux_2_28``."""
        return f"{self.arch}-manylinux_{self.glibc}"


def make_target(python: str, arch: str, glibc: str) -> Target:
    """A validated target; ``PackageError`` names the accepted values."""
    if python not in PYTHONS:
        raise PackageError(f"--python {python}: choose one of {', '.join(PYTHONS)}")
    if arch not in ARCHES:
        raise PackageError(f"--arch {arch}: choose x86_64 or arm64")
    return Target(python, ARCHES[arch], glibc)


def stderr_progress(line: str) -> None:
    """The default progress display: one line per step on stderr."""
    print(f"portafn package: {line}", file=sys.stderr, flush=True)


def uv_executable() -> str:
    """The ``uv`` binary: on PATH, or the one the ``uv`` PyPI package ships."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return str(find_uv_bin())
    except ImportError:
        raise PackageError("portafn package needs uv (https://docs.astral.sh/uv/); install it") from None


def find_workspace(start: Path) -> Path | None:
    """The uv workspace root that holds ``start`` and a ``portafn`` project, if any."""
    for folder in [start, *start.parents]:
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text())
        except tomllib.TOMLDecodeError:
            continue
        if "workspace" in data.get("tool", {}).get("uv", {}):
            return folder
    return None


def portafn_workspace() -> Path | None:
    """The source checkout of portafn itself, when portafn runs from one (not from an installed wheel)."""
    import portafn

    root = find_workspace(Path(portafn.__file__).resolve().parent)
    if root is None:
        return None
    name = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {}).get("name")
    return root if name == "portafn" else None


def build_workspace_wheels(names: Sequence[str], out: Path, progress: Progress) -> list[Path]:
    """Wheels of ``names`` (portafn and its adapter) into ``out``: built from the portafn checkout
    (``uv build --wheel``), or, where portafn was installed from an index, the released wheels of
    the installed versions, downloaded from that index (they are pure Python)."""
    root = portafn_workspace()
    out.mkdir(parents=True, exist_ok=True)
    if root is None:
        return download_released_wheels(names, out, progress)
    built: list[Path] = []
    for name in names:
        progress(f"building wheel {name} from {root}")
        before = set(out.glob("*.whl"))
        _run([uv_executable(), "build", "--wheel", "--package", name, "--out-dir", str(out), "--quiet"], root)
        new = sorted(set(out.glob("*.whl")) - before)
        if not new:
            # The same version was built before into this folder; pick it by name.
            new = sorted(out.glob(f"{name.replace('-', '_')}-*.whl"))
        if not new:
            raise ToolFailed(f"uv build --package {name} produced no wheel in {out}")
        built.append(new[-1])
    return built


def download_released_wheels(names: Sequence[str], out: Path, progress: Progress) -> list[Path]:
    """The installed versions of ``names`` as wheels from the package index pip is configured with."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            raise PackageError(f"{name} is not installed; pip install {name}") from None
    progress(f"downloading released wheels: {', '.join(pins)}")
    # pip, run by uv in a throwaway environment, honours the user's pip index configuration.
    download = ["pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(out), *pins]
    cmd = [uv_executable(), "tool", "run", "--quiet", "--from", "pip", *download]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ToolFailed(f"cannot download {', '.join(pins)} from the package index: {tail[0]}")
    wheels = []
    for name in names:
        found = sorted(out.glob(f"{name.replace('-', '_')}-*.whl"))
        if not found:
            raise ToolFailed(f"pip downloaded no wheel for {name} into {out}")
        wheels.append(found[-1])
    return wheels


def locked_constraints(packages: Sequence[str], out: Path) -> Path | None:
    """The versions ``uv.lock`` pins for ``packages`` and their dependencies, as a constraints file."""
    root = portafn_workspace()
    if root is None or not (root / "uv.lock").is_file():
        return None
    lines: set[str] = set()
    for package in packages:
        cmd = [uv_executable(), "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-workspace"]
        cmd += ["--no-header", "--no-annotate", "--package", package]
        text = _run(cmd, root)
        lines.update(ln for ln in text.splitlines() if ln and not ln.startswith(("#", "-e", ".")))
    out.write_text("\n".join(sorted(lines)) + "\n")
    return out


def install_for_target(
    target: Target,
    site: Path,
    *,
    wheels: Sequence[Path],
    requirements: Iterable[Path],
    constraints: Path | None,
    exclude: Sequence[str],
    cache: Path,
    progress: Progress,
) -> list[str]:
    """Install ``wheels`` and ``requirements`` with their dependencies into ``site`` for ``target``.

    ``exclude`` names distributions left out with what only they need (the runtime has them).
    Returns the installed distributions as ``name==version``, sorted.
    """
    site.mkdir(parents=True, exist_ok=True)
    cmd = [
        uv_executable(),
        "pip",
        "install",
        "--target",
        str(site),
        "--python-platform",
        target.platform,
        "--python-version",
        target.python,
        "--only-binary",
        ":all:",
        "--cache-dir",
        str(cache),
        "--color",
        "never",
        "--link-mode",
        "copy",
    ]
    if exclude:
        excludes = site.parent / "excludes.txt"
        excludes.write_text("\n".join(exclude) + "\n")
        cmd += ["--excludes", str(excludes)]
    if constraints is not None:
        cmd += ["--constraints", str(constraints)]
    for req in requirements:
        cmd += ["--requirements", str(req)]
    cmd += [str(w) for w in wheels]
    progress(f"fetching wheels for {target.platform}, CPython {target.python} (cache {cache})")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_uv_env(), cwd=site.parent
    )
    assert proc.stdout is not None
    output: list[str] = []
    for raw in proc.stdout:
        line = raw.rstrip()
        output.append(line)
        if line.strip():
            progress("  " + line.strip())
    if proc.wait() != 0:
        detail = "\n".join(output[-15:])
        if re.search(
            r"no (?:wheels|matching distribution)|only-binary|has no wheels|platform tag", detail, re.I
        ):
            raise PlatformWheelMissing(_culprit(detail), target.platform, target.python, detail)
        raise ToolFailed(f"uv pip install failed for {target.platform}:\n{detail}")
    _drop_local_paths(site)
    return installed(site)


def installed(site: Path) -> list[str]:
    """``name==version`` for every distribution in ``site``, sorted."""
    found = []
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found.append(f"{name.replace('_', '-').lower()}=={version}")
    return sorted(found)


def _drop_local_paths(site: Path) -> None:
    # uv records where a local wheel came from (an absolute temp path, direct_url.json) and when
    # it was built (uv_cache.json); --target also leaves a lock file and console scripts whose
    # shebang is the build machine's Python. None of it runs on the provider, and all of it would
    # make two builds differ, so it goes, with the matching RECORD lines.
    drop_meta = ("direct_url.json", "uv_cache.json")
    for name in (".lock",):
        (site / name).unlink(missing_ok=True)
    if (site / "bin").is_dir():
        shutil.rmtree(site / "bin")
    for record in site.glob("*.dist-info/RECORD"):
        for meta in drop_meta:
            (record.parent / meta).unlink(missing_ok=True)
        lines = record.read_text().splitlines()
        kept = [ln for ln in lines if not ln.split(",")[0].endswith(drop_meta) and not ln.startswith("bin/")]
        if kept != lines:
            record.write_text("\n".join(kept) + "\n")


def _culprit(detail: str) -> str | None:
    match = re.search(r"(?:Because|because)\s+([A-Za-z0-9_.\-]+)", detail)
    if match:
        return match.group(1)
    match = re.search(r"[Nn]o wheels? .*? for ([A-Za-z0-9_.\-]+)", detail)
    return match.group(1) if match else None


def _uv_env() -> dict[str, str]:
    env = dict(os.environ)
    # Inside `uv run`, VIRTUAL_ENV points at the build machine's venv; --target ignores it, but keep
    # uv from syncing or preferring anything of that environment.
    env.pop("VIRTUAL_ENV", None)
    env["UV_NO_PROGRESS"] = "1"
    return env


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_uv_env(), check=False)
    if proc.returncode != 0:
        raise ToolFailed(f"{' '.join(cmd[1:4])} failed:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout
