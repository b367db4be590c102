"""Local servers' downloads live in a user cache (``PORTAFN_CACHE``), not in the library or a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from portafn_aws.dev import dynamodb
from portafn_azure.dev import azurite, cosmos

from portafn.dev.cache import cache_dir, find_npm_package, npm_root


def test_cache_dir_follows_portafn_cache_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORTAFN_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PORTAFN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "portafn"


def test_outside_a_checkout_every_download_goes_to_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAFN_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    library = Path(dynamodb.__file__).resolve().parents[2]
    for path in (dynamodb.emulator_dir(), cosmos.package_dir(), azurite.package_dir()):
        assert path.is_relative_to(tmp_path / "cache"), path
        assert not path.is_relative_to(library)
    assert npm_root() == tmp_path / "cache" / "npm"


def test_a_node_modules_above_the_working_directory_is_used_when_it_has_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAFN_CACHE", str(tmp_path / "cache"))
    pkg = tmp_path / "repo" / "node_modules" / "azurite" / "dist" / "src"
    pkg.mkdir(parents=True)
    (pkg / "azurite.js").write_text("")
    (tmp_path / "repo" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "repo" / "sub")
    assert (
        find_npm_package("azurite", "dist/src/azurite.js") == tmp_path / "repo" / "node_modules" / "azurite"
    )
    assert azurite.installed()


class _ToyServer:
    """A server module's shape: ``installed()`` and ``install()``."""

    def __init__(self) -> None:
        self.present = False
        self.installs = 0

    def installed(self) -> bool:
        return self.present

    def install(self) -> None:
        self.installs += 1
        self.present = True


TOY = _ToyServer()


def test_dev_up_installs_a_server_only_when_it_lacks_its_download() -> None:
    from portafn.dev.servers import ensure_installed
    from portafn.plugins import Provider, register_provider, unregister_provider

    register_provider(
        Provider(name="toyserver", distribution="toy", servers={"toy": "tests.core.test_dev_cache:TOY"})
    )
    try:
        ensure_installed("toy")
        ensure_installed("toy")
        assert TOY.installs == 1
    finally:
        unregister_provider("toyserver")
