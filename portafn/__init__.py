"""portafn: one business function on AWS Lambda, Azure Functions and Google Cloud Functions.

Business code imports only this package; the provider lives in the adapter and the store URL.
Importing it loads no cloud SDK.
"""

from portafn.app import App, Function
from portafn.context import Context
from portafn.depends import Depends
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
