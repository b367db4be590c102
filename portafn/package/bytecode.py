"""Bytecode for a deployment archive: ``__pycache__/*.pyc`` beside every module, for the target Python.

A platform that runs code from a read-only folder (Lambda's ``/var/task``) cannot write the
``.pyc`` files Python makes on first import, so without shipped bytecode every cold start compiles
every module it imports again. The files are compiled with ``UNCHECKED_HASH`` invalidation: Python
loads them without looking at the source's timestamp (which a zip does not keep) or hashing it.

They are compiled by an interpreter of the target's version (bytecode is version-specific), in a
fresh process so that nothing this process has imported changes what ``marshal`` writes: the same
sources give the same bytes. Where no interpreter of that version is found, no bytecode is added
and a note says so (the archive still works; its cold starts compile).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from portafn.package.zipper import write_zip

if TYPE_CHECKING:
    from portafn.package.build import BuildContext

Files = list[tuple[str, Path]]

# Run by the target interpreter: compile each (source, pyc, name in the archive); print the failures.
_COMPILE = r"""
import json, py_compile, sys
failed = []
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError:
        failed.append(dfile)
json.dump(failed, sys.stdout)
"""


def pyc_name(arcname: str, python: str) -> str:
    """Where CPython ``python`` (``"3.11"``) looks for the bytecode of module file ``arcname``."""
    path = PurePosixPath(arcname)
    return str(path.parent / "__pycache__" / f"{path.stem}.cpython-{python.replace('.', '')}.pyc")


def interpreter(python: str) -> str | None:
    """A working CPython of version ``python``: this one if it is, else one uv finds, else
    ``pythonX.Y`` on the PATH; each candidate is asked its version (a shim may name one it lacks)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        return sys.executable
    for candidate in (_uv_python(python), shutil.which(f"python{python}")):
        if candidate and _version_of(candidate) == python:
            return candidate
    return None


def _uv_python(python: str) -> str | None:
    from portafn.package.errors import PackageError
    from portafn.package.wheels import uv_executable

    try:
        uv = uv_executable()
    except PackageError:
        return None
    found = _run([uv, "python", "find", "--no-project", python])
    return found.strip() or None if found else None


def _version_of(exe: str) -> str | None:
    found = _run([exe, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    return found.strip() if found else None


def _run(cmd: list[str]) -> str | None:
    """``cmd``'s output, or None if it could not run or failed."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


def with_bytecode(
    files: Iterable[tuple[str, Path]], extra: Mapping[str, bytes], python: str, notes: list[str]
) -> tuple[Files, dict[str, bytes]]:
    """``files`` and ``extra`` (as ``write_zip`` takes them) plus a ``.pyc`` for every ``.py``.

    A source that does not compile (a template, code for another Python) gets no ``.pyc``:
    Python compiles it if it is ever imported, as it would have anyway.
    """
    files = [(name, path) for name, path in files if "__pycache__" not in PurePosixPath(name).parts]
    out = dict(extra)
    exe = interpreter(python)
    if exe is None:
        notes.append(f"no .pyc in the archive: no CPython {python} found to compile it (cold starts compile)")
        return files, out
    with tempfile.TemporaryDirectory(prefix="portafn-pyc-") as tmp:
        work = Path(tmp)
        jobs = [
            (str(source), str(work / f"{i}.pyc"), name)
            for i, (name, source) in enumerate(_sources(files, extra, work))
        ]
        failed = set(_compile(exe, jobs))
        for _source, cfile, name in jobs:
            if name not in failed:
                out[pyc_name(name, python)] = Path(cfile).read_bytes()
    if failed:
        notes.append(
            f"{len(failed)} source file(s) do not compile for CPython {python}; shipped without .pyc"
        )
    return files, out


def write_compiled_zip(
    ctx: BuildContext, target: Path, files: Iterable[tuple[str, Path]], extra: Mapping[str, bytes]
) -> None:
    """``write_zip`` with the bytecode of every module for the build's Python added (notes in ``ctx``)."""
    write_zip(target, *with_bytecode(files, extra, ctx.target.python, ctx.notes))


def _sources(files: Files, extra: Mapping[str, bytes], work: Path) -> list[tuple[str, Path]]:
    """Every ``.py`` of the archive as (name in the archive, a file holding its source), by name."""
    found = [(name, path) for name, path in files if name.endswith(".py")]
    for i, (name, content) in enumerate(sorted(extra.items())):
        if name.endswith(".py"):
            path = work / f"extra-{i}.py"
            path.write_bytes(content)
            found.append((name, path))
    return sorted(found)


def _compile(exe: str, jobs: list[tuple[str, str, str]]) -> list[str]:
    """Compile ``jobs`` in a fresh ``exe``; the archive names of those that failed."""
    # A fixed hash seed: frozenset constants are marshalled in iteration order, which follows it.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [exe, "-I", "-c", _COMPILE],
        input=json.dumps(jobs),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"compiling bytecode with {exe} failed: {proc.stderr[-2000:]}")
    failed: list[str] = json.loads(proc.stdout)
    return failed
