"""``ctx.publish`` on AWS: each message to SNS (the default) or to EventBridge.

Named by the ``aws`` plugin (``portafn_aws.plugin``); the runtime calls
``make_publisher(runtime)`` on the first publish. ``PORTAFN_AWS_PUBLISH`` picks the broker:

SNS (``sns``, the default)
    The topic ``orders`` is the SNS topic ``$PORTAFN_AWS_TOPIC_ARN_PREFIX`` + ``orders``; the
    template ``portafn package`` writes sets that prefix to
    ``arn:<partition>:sns:<region>:<account>:<stack>-``. Without it the ARN is
    ``arn:<partition>:sns:<region>:<account>:orders`` (region from the session, account from
    STS ``GetCallerIdentity``, asked once). The payload is the SNS ``Message`` and the CloudEvent
    context travels in message attributes (see ``portafn_aws.events.cloudevent_attributes``),
    next to the user's attributes (String). A topic named ``*.fifo`` is FIFO: the key is the
    ``MessageGroupId`` (the topic name when there is no key: one group, total order; a key SNS
    would refuse, too long or not printable ASCII, goes as its SHA-256) and the
    CloudEvent id the ``MessageDeduplicationId``, so an outbox relay that sends twice is deduped.

EventBridge (``eventbridge``)
    ``PutEvents`` on the bus ``$PORTAFN_AWS_EVENT_BUS`` (default ``default``) with ``Source`` the
    CloudEvent source, ``DetailType`` its type and ``Detail`` the whole CloudEvent in the JSON
    event format (EventBridge has no attributes; a ``detail`` must be an object). The adapter
    reads such a detail back as that CloudEvent.

The boto3 client is made once, on first publish. A refused publish raises ``AwsPublishError`` (a
``PublishError``) naming the topic and AWS's error code only, never the request or credentials;
``retryable`` says whether sending again may work (the outbox relay retries either way).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from functools import partial
from typing import TYPE_CHECKING, Any

from portafn.lazy import Lazy
from portafn.reliability.publish import Outgoing, Publisher, PublishError
from portafn_aws.events import BASE64_CONTENT_TYPE, cloudevent_attributes

if TYPE_CHECKING:
    from portafn.runtime import Runtime

BROKER_ENV = "PORTAFN_AWS_PUBLISH"
TOPIC_PREFIX_ENV = "PORTAFN_AWS_TOPIC_ARN_PREFIX"
EVENT_BUS_ENV = "PORTAFN_AWS_EVENT_BUS"

# Error codes after which the same request may well succeed.
_TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "InternalError",
        "InternalFailure",
        "InternalException",
        "ServiceUnavailable",
        "KMSThrottling",
        "RequestTimeout",
    }
)


class AwsPublishError(PublishError):
    """SNS or EventBridge did not take a message. ``code`` is AWS's error code (or the client
    error's type); ``retryable`` is True when the same send may work later."""

    def __init__(self, broker: str, topic: str, code: str, *, retryable: bool) -> None:
        self.broker = broker
        self.topic = topic
        self.code = code
        self.retryable = retryable
        super().__init__(f"{broker} did not accept the message for topic {topic!r}: {code}")


def _error(broker: str, topic: str, exc: Exception) -> AwsPublishError:
    """The typed error for a boto3 failure, with the code only: AWS's messages may quote ARNs."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code") or type(exc).__name__)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        retryable = code in _TRANSIENT or (isinstance(status, int) and status >= 500)
        return AwsPublishError(broker, topic, code, retryable=retryable)
    # Connection errors, timeouts, missing credentials: the client never got an answer.
    return AwsPublishError(broker, topic, type(exc).__name__, retryable=True)


def _client(service: str) -> Any:
    """A boto3 client for ``service`` (imported here: boto3 is not loaded until a publish)."""
    import boto3

    return boto3.session.Session().client(service)  # type: ignore[call-overload]


def _close(client: Lazy[Any]) -> None:
    """Close the client if it was made; the next use makes a new one."""
    made = client.reset()
    if made is not None:
        made.close()


class _AccountUnknown(Exception):
    """STS did not say which account this is; ``cause`` is the boto3 error."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause
        super().__init__(type(cause).__name__)


class SnsPublisher(Publisher):
    """Publishes each message to the SNS topic named like its topic (see the module docs)."""

    broker = "sns"

    def __init__(self, topic_arn_prefix: str | None = None) -> None:
        given = topic_arn_prefix if topic_arn_prefix is not None else os.environ.get(TOPIC_PREFIX_ENV)
        self._sns: Lazy[Any] = Lazy(partial(_client, "sns"))
        # Asked of STS once per container when no prefix is configured.
        self._prefix: Lazy[str] = Lazy(self._default_prefix)
        if given is not None:
            self._prefix = Lazy(lambda: given)

    def topic_arn(self, topic: str) -> str:
        """The ARN of ``topic``'s SNS topic."""
        try:
            return self._prefix.get() + topic
        except _AccountUnknown as exc:
            raise _error("sts", topic, exc.cause) from None

    def _default_prefix(self) -> str:
        client = self._sns.get()
        region = client.meta.region_name
        partition = client.meta.partition
        try:
            account = _client("sts").get_caller_identity()["Account"]
        except Exception as exc:
            raise _AccountUnknown(exc) from None
        return f"arn:{partition}:sns:{region}:{account}:"

    def request(self, message: Outgoing, topic_arn: str) -> dict[str, Any]:
        """The ``Publish`` request for ``message``."""
        event = message.event
        if _is_text(message):
            text = message.body.decode("utf-8")
        else:
            # SNS messages are text: binary payloads go base64, and the content type says so.
            text = base64.b64encode(message.body).decode("ascii")
            event = event.model_copy(update={"datacontenttype": BASE64_CONTENT_TYPE})
        try:
            attributes = cloudevent_attributes(event, message.attributes)
        except ValueError as exc:
            raise PublishError(str(exc)) from None
        request: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Message": text,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        }
        # No SNS ``Subject``: it must be printable ASCII under 100 characters, which a CloudEvent
        # subject need not be; the subject travels as ``ce-subject`` instead.
        if message.topic.endswith(".fifo"):
            request["MessageGroupId"] = group_id(message.key or message.topic)
            request["MessageDeduplicationId"] = message.id[:128]
        return request

    def publish(self, message: Outgoing) -> None:
        """Send ``message`` to its topic; raise ``AwsPublishError`` if SNS refused it."""
        request = self.request(message, self.topic_arn(message.topic))
        try:
            self._sns.get().publish(**request)
        except Exception as exc:
            raise _error("sns", message.topic, exc) from None

    def close(self) -> None:
        """Close the SNS client."""
        _close(self._sns)


class EventBridgePublisher(Publisher):
    """Puts each message on an EventBridge bus as a structured CloudEvent (see the module docs)."""

    broker = "eventbridge"

    def __init__(self, bus: str | None = None) -> None:
        self.bus = bus or os.environ.get(EVENT_BUS_ENV) or "default"
        self._events: Lazy[Any] = Lazy(partial(_client, "events"))

    def entry(self, message: Outgoing) -> dict[str, Any]:
        """The ``PutEvents`` entry for ``message``."""
        from portafn.cloudevents import to_dict

        event = message.event
        if event.datacontenttype == "application/octet-stream":
            event = event.model_copy(update={"data": message.body})
        detail = to_dict(event)
        if message.attributes:
            # EventBridge has no message attributes; they ride along in the detail.
            detail["portafnattributes"] = dict(message.attributes)
        entry: dict[str, Any] = {
            "Source": event.source,
            "DetailType": event.type,
            "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
            "EventBusName": self.bus,
        }
        if event.time is not None:
            entry["Time"] = event.time
        return entry

    def publish(self, message: Outgoing) -> None:
        """Put ``message`` on the bus; raise ``AwsPublishError`` if EventBridge refused it."""
        entry = self.entry(message)
        try:
            answer = self._events.get().put_events(Entries=[entry])
        except Exception as exc:
            raise _error("eventbridge", message.topic, exc) from None
        if answer.get("FailedEntryCount"):
            failed = (answer.get("Entries") or [{}])[0]
            code = str(failed.get("ErrorCode") or "FailedEntry")
            raise AwsPublishError("eventbridge", message.topic, code, retryable=code in _TRANSIENT)

    def close(self) -> None:
        """Close the EventBridge client."""
        _close(self._events)


_GROUP_ID = re.compile(r"^[!-~]{1,128}$")  # SNS/SQS: 1-128 printable ASCII, no spaces


def group_id(key: str) -> str:
    """The FIFO ``MessageGroupId`` for ``key``: the key itself when SNS accepts it, else its
    SHA-256 (the same key always maps to the same group, so its order holds)."""
    if _GROUP_ID.match(key):
        return key
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _is_text(message: Outgoing) -> bool:
    if message.event.datacontenttype == "application/octet-stream":
        return False
    try:
        message.body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def make_publisher(runtime: Runtime | None = None) -> Publisher:
    """The AWS publisher ``PORTAFN_AWS_PUBLISH`` asks for: ``sns`` (default) or ``eventbridge``."""
    choice = (os.environ.get(BROKER_ENV) or "sns").strip().lower()
    if choice == "sns":
        return SnsPublisher()
    if choice == "eventbridge":
        return EventBridgePublisher()
    raise PublishError(f"{BROKER_ENV}={choice!r}: use 'sns' or 'eventbridge'")
