"""Structured logging: one JSON object a line, carrying the invocation's fields, secrets redacted."""

from __future__ import annotations

import functools
import json
import json.encoder
import logging
import re
import sys
import time
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

# Words that make a key secret wherever they appear in it, once separators are removed and
# case folded: ``aws_secret_access_key``, ``X-Api-Key``, ``id_token_hint``, ``privateKey``.
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "authorization",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "cookie",
    "signature",
    "sessionid",
    "connectionstring",
)
_KEY_SEPARATORS = re.compile(r"[-_.\s]")


@functools.cache
def _secret_values() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The inline secret patterns (JWT, AWS key id, token prefixes), compiled on first use.

    Compiling them costs a few milliseconds of every cold start, and most lines never reach them.
    """
    return (
        # JSON Web Tokens (header.payload[.signature], base64url, header starting with {" -> eyJ).
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"),
        # AWS access key ids.
        re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|ANPA|AGPA)[A-Z0-9]{16}\b"),
        # Common token prefixes: GitHub, Slack, Stripe, OpenAI-style, GitLab, npm, Google API keys.
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
            r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|sk-[A-Za-z0-9_-]{20,}|glpat-[A-Za-z0-9_-]{20,}"
            r"|npm_[A-Za-z0-9]{36}|AIza[A-Za-z0-9_-]{35})"
        ),
    )


@functools.cache
def _redactors() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """``_redact_all``'s marker, URL and AWS-secret patterns, compiled on first use."""
    return (
        # Secrets that follow a marker: the marker stays, what follows goes.
        re.compile(
            r"(?i)(\b(?:Bearer|Basic|Digest|Negotiate)\s+"
            r"|\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig|password|passwd|pwd|secret"
            r"|client_secret|access_token|refresh_token|id_token|token|api[-_]?key|apikey"
            r"|aws_secret_access_key|x-amz-signature|x-amz-security-token)=)[^;&\s\"',]+"
        ),
        # Credentials inside a URL: scheme://user:password@host.
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]*(?::[^/\s@]*)?@"),
        # An AWS secret access key after an obvious label, or as a bare 40-character base64 word.
        re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
    )


REDACTED = "[redacted]"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# Fields the formatter writes itself; ``extra`` cannot replace them.
RESERVED = frozenset({"time", "level", "message", "logger", "exception"})


# The words after which _redactors()' marker pattern takes what follows a space, matched as it
# matches them (re's IGNORECASE also folds U+017F to "s" and U+0131 to "i", which str.lower() does
# not).
_AUTH_SCHEME = r"(?i)bearer|basic|digest|negotiate"  # compiled on first use, by re's cache
# The shortest text _secret_values()' token prefixes or the key-id pattern can match (xox?- + 10).
_SHORTEST_VALUE = 15
_HEX_AND_DASH = "0123456789abcdef-"  # lower case only: a mixed-case word may be an AWS key


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a key names a secret: a secret word anywhere in it, ignoring case and separators."""
    # Cached: a process logs the same few field names on every line.
    folded = _KEY_SEPARATORS.sub("", key).lower()
    # "sig" alone (SAS signatures) but not inside "design" or "assignee".
    return folded == "sig" or folded.endswith("sig") or any(word in folded for word in _SECRET_WORDS)


def _may_hold_secret(text: str) -> bool:
    """False only when no pattern of ``redact_text`` can match ``text``.

    Each test is a literal every pattern needs (``=``, ``@``, ``eyJ``, a scheme word) or a minimum
    length, so most log values (ids, names, short messages) are cleared by a few substring scans
    instead of seven regular-expression passes.
    """
    if not text.strip(_HEX_AND_DASH):
        # Only lower-case hex digits and dashes (request ids, UUIDs, digests): no pattern's literal or
        # character class fits, so none can match.
        return False
    if "=" in text or "@" in text or "eyJ" in text:
        return True  # the marker pattern's key=value, URL userinfo, JSON Web Tokens
    if text.isascii():
        lower = text.lower()
        if "bearer" in lower or "basic" in lower or "digest" in lower or "negotiate" in lower:
            return True
    elif re.search(_AUTH_SCHEME, text):
        return True
    if len(text) < _SHORTEST_VALUE:
        return False
    _jwt, akid, token_prefix = _secret_values()
    return bool(akid.search(text) or token_prefix.search(text) or _redactors()[2].search(text))


# Short texts already found clean: a process logs the same messages, names and ids (a request id
# is on every line of its invocation) again and again. Only texts that hold no secret are kept.
_CLEAN: set[str] = set()
_CLEAN_MAX = 4096
_CLEAN_LONGEST = 64


def redact_text(text: str) -> str:
    """``text`` with secret-looking values replaced (tokens, keys, credentials, URL userinfo)."""
    if text in _CLEAN:
        return text
    if _may_hold_secret(text):
        return _redact_all(text)
    if len(text) <= _CLEAN_LONGEST:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.add(text)
    return text


def _redact_all(text: str) -> str:
    """Every pattern applied in turn (``redact_text`` skips this when none can match)."""
    secret_after, url_userinfo, aws_secret = _redactors()
    out = url_userinfo.sub(lambda m: m.group(1) + REDACTED + "@", text)
    out = secret_after.sub(lambda m: m.group(1) + REDACTED, out)
    for pattern in _secret_values():
        out = pattern.sub(REDACTED, out)
    return aws_secret.sub(_aws_secret, out)


def _aws_secret(m: re.Match[str]) -> str:
    word = m.group(0)
    # A 40-character base64 word is a secret key only if it mixes cases and digits like one;
    # a hex digest or a run of one class of character is left alone.
    mixed = (
        any(c.islower() for c in word) and any(c.isupper() for c in word) and any(c.isdigit() for c in word)
    )
    return REDACTED if mixed else word


# Types a value may have that hold no text to redact; exact types only, so a subclass (an enum
# that is also a str) still goes through the checks below.
_NO_TEXT: frozenset[type] = frozenset({bool, int, float, type(None)})


_DEEPEST = 32  # nesting a log value may have; deeper (or circular) values are cut, not followed
TOO_DEEP = "<nested too deep>"


def redact(value: Any, key: str | None = None, _depth: int = 0) -> Any:
    """Replace anything that looks like a secret: values under secret-sounding keys, and inline ones.
    Containers nested deeper than 32 levels (a circular value, say) are cut at that depth."""
    if key is not None and is_secret_key(key):
        return REDACTED
    kind = type(value)
    if kind is str:
        return redact_text(value)
    if kind in _NO_TEXT:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", errors="replace"))
    if isinstance(value, Mapping | list | tuple | set | frozenset) and _depth >= _DEEPEST:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {k: redact(v, str(k), _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, None, _depth + 1) for v in value]
    return value


# Record attributes a line never writes as fields (RESERVED ones are renamed instead).
_SKIP = frozenset(_STANDARD - RESERVED)
# One encoder for every line: json.dumps(..., default=str) would build a new one each call.
_ENCODE = json.JSONEncoder(default=str).encode
# The C encoder behind ``_ENCODE``, made once instead of on every call, for the direct line path.
# No circular-reference check (``markers`` None): a shared one would be mutated by every thread.
# The values are redacted copies by then, and ``redact`` has already walked (and refused) a cycle.
_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # None where _json is missing
_C_ENCODER: Any = (
    _MAKE_ENCODER(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    if _MAKE_ENCODER is not None
    else None
)


def _encode_line(entry: dict[str, Any]) -> str:
    """``_ENCODE(entry)``, the same text, without building an encoder per line."""
    if _C_ENCODER is None:
        return _ENCODE(entry)
    return "".join(_C_ENCODER(entry, 0))


# The last second a line was stamped in, and its text up to the seconds: lines come in bursts.
_second: tuple[int, str] = (-1, "")


def iso_time(created: float) -> str:
    """``created`` (epoch seconds) as ISO 8601 UTC with milliseconds, as ``datetime.isoformat``
    writes it (``2026-01-02T03:04:05.678+00:00``), rounding to microseconds as ``fromtimestamp`` does."""
    global _second
    second = int(created)
    micros = round((created - second) * 1e6)
    if micros >= 1_000_000 or created < 0:
        return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    cached_second, text = _second
    if cached_second != second:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")[:-6]
        _second = (second, text)
    return f"{text}.{micros // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, message, logger, and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "message": redact(record.getMessage()),
            "logger": record.name,
        }
        for key, value in record.__dict__.items():
            if key in _SKIP:
                continue
            if key in RESERVED:
                # An ``extra`` field spelled like one the line itself writes keeps its value
                # under another name instead of replacing the real one.
                entry["extra_" + key] = redact(value, key)
            elif not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return _ENCODE(entry)


_ROOT = logging.getLogger("portafn")
# logging.getLogger takes the module lock on every call; a logger, once made, is never replaced.
_loggers: dict[str, logging.Logger] = {}


def get_logger(name: str = "portafn") -> logging.Logger:
    """The portafn logger, writing JSON lines to stderr unless the application configured handlers."""
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = logging.getLogger(name)
    if not _ROOT.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        _ROOT.addHandler(handler)
        _ROOT.setLevel(logging.INFO)
        _ROOT.propagate = False
    return logger


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds the invocation's fields (request id, correlation id, ...) to every line.

    With logging as portafn sets it up (one ``StreamHandler`` with the ``JsonFormatter``, no
    filters, the standard record factory) a line is formatted and written directly: the same
    JSON line, without building a ``LogRecord`` or walking the stack for a caller the line does
    not print. Any other set-up (an application's handlers, filters, ``exc_info``) takes the
    standard path.
    """

    def __init__(self, logger: logging.Logger, fields: dict[str, Any]) -> None:
        super().__init__(logger, fields)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        for key, value in (kwargs.get("extra") or {}).items():
            # logging refuses an extra named like a record attribute; keep the value, renamed.
            extra["extra_" + key if key in _STANDARD else key] = value
        kwargs["extra"] = extra
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log ``msg % args`` at ``level`` with this invocation's fields and ``extra``."""
        logger = self.logger
        if type(level) is not int or not logger.isEnabledFor(level):
            if type(level) is not int:
                logger.log(level, msg, *args, **kwargs)  # logging's own error for a bad level
            return
        msg, given = self.process(msg, kwargs)
        handler = _sole_json_handler(logger, level) if given.keys() == {"extra"} else None
        if handler is None or not _write_line(handler, logger, level, msg, args, given["extra"]):
            # This frame is not logging's own: one more level up is the caller of info() & co.
            given["stacklevel"] = given.get("stacklevel", 1) + 1
            logger.log(level, msg, *args, **given)


def _sole_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    """The handler a line from ``logger`` reaches, if it is the only one and a plain
    ``StreamHandler`` with the ``JsonFormatter``, and nothing else would see the record."""
    if (
        type(logger) is not logging.Logger
        or logger.disabled
        or logger.filters
        or logging.getLogRecordFactory() is not logging.LogRecord
    ):
        return None
    found: logging.Handler | None = None
    node: logging.Logger | None = logger
    while node is not None:
        for handler in node.handlers:
            if found is not None:
                return None
            found = handler
        if not node.propagate:
            break
        node = node.parent
    if (
        type(found) is not logging.StreamHandler
        or found.filters
        or level < found.level
        or type(found.formatter) is not JsonFormatter
    ):
        return None
    return found


# Per extra key, the name it is written under (None: not written) and whether its value is a secret.
_KEY_PLANS: dict[str, tuple[str | None, bool]] = {}
_KEY_PLANS_MAX = 4096


def _key_plan(key: str) -> tuple[str | None, bool]:
    """What ``JsonFormatter.format`` does with a record attribute named ``key``."""
    plan = _KEY_PLANS.get(key)
    if plan is None:
        if key in RESERVED:
            plan = ("extra_" + key, is_secret_key(key))
        elif key in _SKIP or key.startswith("_"):
            plan = (None, False)
        else:
            plan = (key, is_secret_key(key))
        if len(_KEY_PLANS) >= _KEY_PLANS_MAX:
            _KEY_PLANS.clear()
        _KEY_PLANS[key] = plan
    return plan


def _write_line(
    handler: logging.StreamHandler[Any],
    logger: logging.Logger,
    level: int,
    msg: object,
    args: tuple[object, ...],
    extra: dict[str, Any],
) -> bool:
    """Write the line ``JsonFormatter`` would write for this call; False (nothing written) if
    the line cannot be made, so that logging's own path reports why."""
    created = time.time()
    try:
        message = str(msg)
        if args:
            # As LogRecord does: one non-empty mapping is the mapping for %(name)s formats.
            single = args[0] if len(args) == 1 and isinstance(args[0], Mapping) and args[0] else args
            message = message % single
        entry: dict[str, Any] = {
            "time": iso_time(created),
            "level": logging.getLevelName(level),
            "message": redact(message),
            "logger": logger.name,
        }
        plans = _KEY_PLANS
        for key, value in extra.items():
            name, secret = plans.get(key) or _key_plan(key)
            if name is None:
                continue
            kind = type(value)
            # Inlined for the common values (redact's answer for them), as this runs per field.
            if secret:
                entry[name] = REDACTED
            elif kind in _NO_TEXT or (kind is str and value in _CLEAN):
                entry[name] = value
            else:
                entry[name] = redact(value)
        line = _encode_line(entry) + handler.terminator
    except Exception:
        return False
    try:
        with handler.lock:  # type: ignore[union-attr]
            stream = handler.stream
            stream.write(line)
            if hasattr(stream, "flush"):
                stream.flush()
    except RecursionError:
        raise
    except Exception:
        handler.handleError(logger.makeRecord(logger.name, level, "(unknown file)", 0, msg, args, None))
    return True
