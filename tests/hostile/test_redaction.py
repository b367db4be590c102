"""Log redaction, table-driven: secret keys anywhere in a name, secret-looking values, reserved fields."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from portafn.log import REDACTED, ContextLogger, JsonFormatter, is_secret_key, redact, redact_text

# Fake credentials, shaped like real ones (AWS's documented examples where there are some).
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
AKID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"

SECRET_KEYS = [
    "password",
    "Password",
    "PASSWORD",
    "db_password",
    "passwd",
    "pwd",
    "user_pwd",
    "passphrase",
    "secret",
    "client_secret",
    "aws_secret_access_key",
    "AWS_SECRET_ACCESS_KEY",
    "secret_key",
    "secretKey",
    "private_key",
    "privateKey",
    "private-key",
    "token",
    "tokens",
    "access_token",
    "refresh_token",
    "id_token_hint",
    "x-auth-token",
    "authorization",
    "Authorization",
    "proxy-authorization",
    "api_key",
    "apiKey",
    "x-api-key",
    "API.KEY",
    "access_key",
    "credential",
    "credentials",
    "cookie",
    "set-cookie",
    "signature",
    "sig",
    "sessionid",
    "session_id",
    "connection_string",
    "ConnectionString",
]
PLAIN_KEYS = [
    "user",
    "order_id",
    "design",
    "assignee",
    "signal",
    "status",
    "key",
    "path",
    "level_name",
    "count",
]

SECRET_VALUES: list[tuple[str, str]] = [
    (f"token is {JWT}", JWT),
    (f"Authorization: Bearer {JWT}", JWT),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    (f"key id {AKID} used", AKID),
    ("ASIA session ASIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE"),
    (f"secret {AWS_SECRET}", AWS_SECRET),
    (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
    (f"gh token {GHP}", GHP),
    (
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv",
    ),
    ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("stripe sk_live_abcdefghij0123456789", "sk_live_abcdefghij0123456789"),
    ("openai sk-abcdefghijklmnopqrstuvwx", "sk-abcdefghijklmnopqrstuvwx"),
    ("gitlab glpat-abcdefghij0123456789", "glpat-abcdefghij0123456789"),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("https://alice:s3cr3t@db.example.com/x", "s3cr3t"),
    ("postgres://admin:hunter2@localhost:5432/app", "hunter2"),
    ("redis://:onlypass@cache:6379", "onlypass"),
    ("GET /cb?token=abc123&x=1", "abc123"),
    ("GET /cb?api_key=abc123", "abc123"),
    ("GET /cb?apikey=abc123", "abc123"),
    ("GET /cb?access_token=abc123", "abc123"),
    ("GET /cb?client_secret=abc123", "abc123"),
    ("GET /cb?password=abc123", "abc123"),
    ("https://s3/obj?X-Amz-Signature=abcdef0123&X-Amz-Credential=z", "abcdef0123"),
    ("https://blob/c?sv=2020&sig=AbCdEf%2B123", "AbCdEf%2B123"),
    ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFy==;", "Zm9vYmFy=="),
    ("Endpoint=sb://x/;SharedAccessKeyName=n;SharedAccessKey=abcDEF123=", "abcDEF123="),
    ('ValueError: bad body {"password=swordfish"}', "swordfish"),
]
KEPT_VALUES = [
    "order o-1 for customer c-1 paid",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "https://example.com/path?page=2&limit=10",
    "key=orders#c1",
    "took 12.5 ms",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys_are_redacted(key: str) -> None:
    assert is_secret_key(key)
    assert redact({key: "value"}) == {key: REDACTED}


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_plain_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)
    assert redact({key: "value"}) == {key: "value"}


@pytest.mark.parametrize(("text", "secret"), SECRET_VALUES)
def test_secret_values_are_redacted(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize("text", KEPT_VALUES)
def test_ordinary_values_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_nested_structures_are_redacted() -> None:
    value = {"outer": {"headers": {"Authorization": "x"}, "list": [{"token": "t"}, f"b {JWT}"]}}
    assert redact(value) == {
        "outer": {"headers": {"Authorization": REDACTED}, "list": [{"token": REDACTED}, f"b {REDACTED}"]}
    }


def _line(logger: logging.Logger, stream: io.StringIO) -> dict[str, Any]:
    return dict(json.loads(stream.getvalue().strip().splitlines()[-1]))


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portafn.test.redaction")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


@pytest.mark.parametrize("field", ["level", "time", "logger", "exception"])
def test_reserved_fields_cannot_be_overridden(
    captured: tuple[logging.Logger, io.StringIO], field: str
) -> None:
    logger, stream = captured
    logger.info("hello", extra={field: "forged"})
    line = _line(logger, stream)
    assert line.get(field) != "forged"
    assert line["level"] == "INFO"
    assert line[f"extra_{field}"] == "forged"


def test_message_and_record_attributes_in_extra_do_not_crash(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    ContextLogger(logger, {"request_id": "r"}).info("hi", extra={"message": "forged", "name": "n"})
    line = _line(logger, stream)
    assert line["message"] == "hi"
    assert line["extra_message"] == "forged"


def test_exception_text_is_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"could not parse body: password=swordfish token {JWT}")
    except ValueError:
        logger.exception("failed with %s", f"Bearer {JWT}")
    text = stream.getvalue()
    assert "swordfish" not in text
    assert JWT not in text


def test_the_table_has_at_least_sixty_cases() -> None:
    assert len(SECRET_KEYS) + len(PLAIN_KEYS) + len(SECRET_VALUES) + len(KEPT_VALUES) >= 60


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("d193be9a-2611-4d7f-a372-dfaa69b8b464", True),  # a request id: the shortcut clears it
        ("0123456789abcdef0123456789abcdef01234567", True),  # a lower-case SHA-1 digest
        ("0123456789ABCDEF0123456789abcdef01234567", False),  # mixed case: may be an AWS secret key
    ],
)
def test_hex_words_are_cleared_only_when_no_pattern_can_match(text: str, kept: bool) -> None:
    assert (redact_text(text) == text) is kept
