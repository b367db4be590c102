"""Loading an ``App`` from a ``MODULE:ATTRIBUTE`` reference."""

from __future__ import annotations

import importlib
import os
import sys

from portafn.app import App


class AppLoadError(Exception):
    """The reference does not name an importable ``App``."""


def load_app(ref: str) -> App:
    """Import ``module:attribute`` (attribute defaults to ``app``) from the working directory."""
    module_name, _, attr = ref.partition(":")
    attr = attr or "app"
    if not module_name:
        raise AppLoadError(f"{ref!r}: expected MODULE:APP, for example samples.orders.app:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AppLoadError(f"cannot import {module_name!r}: {exc}") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise AppLoadError(f"{module_name}:{attr} is not a portafn App (found {type(app).__name__})")
    return app
