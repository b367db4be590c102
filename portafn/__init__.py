"""portafn: one business function on AWS Lambda, Azure Functions and Google Cloud Functions.

Business code imports only this package; the provider lives in the adapter and the store URL.
Importing it loads no cloud SDK.
"""

from typing import TYPE_CHECKING, Any

from portafn.app import App, Function
from portafn.context import Context
from portafn.errors import (
    EventDataError,
    EventFormatError,
    HttpError,
    PortafnError,
    RegistrationError,
)
from portafn.events import Change, Event, Message, Schedule, StorageEvent, StorageObject
from portafn.http import Headers, HttpRequest, HttpResponse
from portafn.runtime import Invocation, Runtime

if TYPE_CHECKING:
    from portafn.depends import Depends
    from portafn.settings import Secret, Settings, SettingsError

__all__ = [
    "App",
    "Change",
    "Context",
    "Depends",
    "Event",
    "EventDataError",
    "EventFormatError",
    "Function",
    "Headers",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "Invocation",
    "Message",
    "PortafnError",
    "RegistrationError",
    "Runtime",
    "Schedule",
    "Secret",
    "Settings",
    "SettingsError",
    "StorageEvent",
    "StorageObject",
]

__version__ = "0.1.0"

# Names only some apps use, imported on first access so a cold start of an app that never touches
# them skips their modules: ``from portafn import Settings`` works as before.
_LAZY = {
    "Depends": "portafn.depends",
    "Secret": "portafn.settings",
    "Settings": "portafn.settings",
    "SettingsError": "portafn.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'portafn' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
