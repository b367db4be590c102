"""A toy fourth provider, declared from a test module: it proves a provider is a plug.

Its native HTTP shape is a flat dict (``{"verb", "path", "query", "headers", "body"}``); its
entry point turns that into the neutral request and back. It declares the core's ``memory://``
store as its own scheme ``toymem://``, a contract driver, the local bus as publisher, and a
packager that writes a zip with a one-line entry module. Nothing in ``portafn/`` names it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portafn.app import App, Function
from portafn.events import Event
from portafn.http import HttpRequest, HttpResponse
from portafn.package.build import Artifact, BuildContext, Limits, measure
from portafn.package.common import entry_source
from portafn.package.zipper import tree_files, write_zip
from portafn.plugins import Provider
from portafn.runtime import Runtime
from portafn.store.memory import MemoryStore
from portafn.testing.drivers import Delivery, delivery_for

PROVIDER = Provider(
    name="toy",
    distribution="portafn",
    stores={"toymem": "tests.plugins.toy_provider:ToyStore"},
    driver="tests.plugins.toy_provider:ToyDriver",
    publisher="portafn.reliability.publish:LocalBus",
    packager="tests.plugins.toy_provider",
    entry="tests.plugins.toy_provider:toy_entry",
)


class ToyStore(MemoryStore):
    """The memory store under the toy's own scheme."""

    scheme = "toymem"


Native = dict[str, Any]


def toy_entry(app: App) -> Callable[[Native], Native]:
    """The toy platform's entry point: a native request dict in, a native response dict out."""
    runtime = Runtime(app, "toy")

    def handle(native: Native) -> Native:
        request = HttpRequest(
            native["verb"],
            native["path"],
            query=native.get("query") or {},
            headers=native.get("headers") or {},
            body=base64.b64decode(native.get("body") or ""),
        )
        response = runtime.handle_http(request)
        return {
            "status": response.status,
            "headers": [[k, v] for k, v in response.headers.items()],
            "body": base64.b64encode(response.body).decode(),
        }

    return handle


class ToyDriver:
    """The contract suite's way in: neutral request -> toy native -> entry -> neutral response."""

    provider = "toy"

    def __init__(self, app: App) -> None:
        self.runtime = Runtime(app, "toy")
        self.entry = toy_entry(app)

    def http(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` through the toy entry point in its native shape."""
        native = self.entry(
            {
                "verb": request.method,
                "path": request.path,
                "query": request.query,
                "headers": list(request.headers.items()),
                "body": base64.b64encode(request.body).decode(),
            }
        )
        return HttpResponse(
            status=native["status"], headers=native["headers"], body=base64.b64decode(native["body"])
        )

    def deliver(self, function: Function, event: Event[Any]) -> Delivery:
        """Run the event on the runtime (the toy has no native event shape)."""
        try:
            return Delivery(ok=True, result=self.runtime.handle_event(function, event))
        except Exception as exc:
            return delivery_for(exc)


# -- the packager (the shape of portafn.package.build.ProviderModule) -----------------------------

NAME = "toy"
ADAPTER = "portafn"
STORE_SCHEME = "toymem"
EXCLUDE: tuple[str, ...] = ()
LIMITS = Limits(zipped=0, unzipped=0, source="none: a toy")
DEFAULT_ARCH = "x86_64"
ARCHES = ("x86_64",)
ENTRY = "toy_main"


def glibc(python: str) -> str:
    """The toy platform's glibc."""
    return "2_28"


def write(ctx: BuildContext) -> list[Artifact]:
    """A zip of the site packages, the app's source, this adapter module and the one-line entry."""
    entry = entry_source(
        "The toy platform's entry module.",
        ["from toy_provider import toy_entry", "", f"from {ctx.module} import {ctx.attr} as app"],
        "handler = toy_entry(app)",
    )
    zip_path = ctx.out / "toy.zip"
    adapter = ("toy_provider.py", Path(__file__))
    write_zip(zip_path, [*tree_files(ctx.site), *ctx.source, adapter], {f"{ENTRY}.py": entry.encode()})
    return [measure(zip_path, "toy deployment package", LIMITS)]
