"""``portafn serve`` under hostile clients: always problem+json, never a hang, never reflected input."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

PROBLEM = "application/problem+json"


def exchange(port: int, raw: bytes, *, read_for: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes or sends Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_for) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def problem_of(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers.get("content-type") == PROBLEM, (status, headers, body[:200])
    doc = json.loads(body)
    assert doc["status"] == status
    return dict(doc)


@pytest.mark.parametrize("length", [b"-1", b"abc", b"+5", b"1_0", b"0x10", b"99999999999999999999"])
def test_a_bad_content_length_is_400(served_port: int, length: bytes) -> None:
    status, headers, body = exchange(
        served_port, b"POST /seg/a HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    )
    assert status == 400
    assert "Content-Length" in problem_of(status, headers, body)["detail"]


def test_conflicting_content_lengths_are_400(served_port: int) -> None:
    raw = b"POST /seg/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    status, headers, body = exchange(served_port, raw)
    assert status == 400
    problem_of(status, headers, body)


def test_chunked_bodies_are_refused_with_411(served_port: int) -> None:
    raw = b"POST /seg/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
    status, headers, body = exchange(served_port, raw)
    assert status == 411
    problem_of(status, headers, body)


def test_an_oversize_request_line_is_414(served_port: int) -> None:
    raw = b"GET /seg/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, headers, body = exchange(served_port, raw)
    assert status == 414
    problem_of(status, headers, body)


def test_an_oversize_header_is_431(served_port: int) -> None:
    raw = b"GET /seg/a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    status, headers, body = exchange(served_port, raw)
    assert status == 431
    problem_of(status, headers, body)


def test_too_many_headers_is_431(served_port: int) -> None:
    raw = b"GET /seg/a HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n"
    status, headers, body = exchange(served_port, raw)
    assert status == 431
    problem_of(status, headers, body)


@pytest.mark.parametrize("method", [b"TRACE", b"get", b"CONNECT", b"PROPFIND"])
def test_unsupported_methods_are_problem_json(served_port: int, method: bytes) -> None:
    status, headers, body = exchange(served_port, method + b" /seg/a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status in (405, 501)
    assert "TRACE" not in problem_of(status, headers, body).get("detail", "")[:5]


def test_a_known_method_on_the_wrong_route_is_405(served_port: int) -> None:
    status, headers, body = exchange(served_port, b"DELETE /seg/a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405
    assert problem_of(status, headers, body)["allowed"] == ["GET", "POST"]


def test_a_garbage_request_line_is_400(served_port: int) -> None:
    status, headers, body = exchange(served_port, b"GARBAGE\r\n\r\n")
    assert status == 400
    problem_of(status, headers, body)


def test_a_client_that_stalls_mid_body_is_dropped(served_port: int) -> None:
    # The server's read timeout is 2 s: the connection ends, it does not hang a thread forever.
    with socket.create_connection(("127.0.0.1", served_port), timeout=10) as sock:
        sock.sendall(b"POST /seg/a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert sock.recv(65536) == b""


def test_a_client_that_stalls_mid_headers_is_dropped(served_port: int) -> None:
    with socket.create_connection(("127.0.0.1", served_port), timeout=10) as sock:
        sock.sendall(b"GET /seg/a HTTP/1.1\r\nHost: x\r\n")
        assert sock.recv(65536) == b""


def test_the_server_still_answers_after_hostile_clients(served_port: int) -> None:
    status, _headers, body = exchange(
        served_port, b"GET /seg/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200
    assert json.loads(body)["value"] == "ok"


@pytest.mark.parametrize(
    ("given", "echoed"),
    [(b"abc-123", True), (b"abc\x0bdef", False), (b"a" * 129, False), (b"a b", False), (b"x;y", False)],
)
def test_the_correlation_id_is_echoed_only_when_safe(served_port: int, given: bytes, echoed: bool) -> None:
    raw = b"GET /seg/a HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: " + given + b"\r\nConnection: close\r\n\r\n"
    status, headers, _ = exchange(served_port, raw)
    assert status == 200
    assert (headers["x-correlation-id"] == given.decode("latin-1")) is echoed
    assert headers["x-correlation-id"].isprintable()


@pytest.mark.parametrize("value", ["a%0D%0ASet-Cookie:%20evil=1", "a%0Ab", "a%00b", "a%0Db"])
def test_response_splitting_through_serve_is_refused(served_port: int, value: str) -> None:
    raw = f"GET /inject?value={value} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, headers, body = exchange(served_port, raw)
    assert status == 500
    assert "set-cookie" not in headers
    assert "evil" not in headers
    assert problem_of(status, headers, body)["header"] == "X-Echo"


def test_an_undecodable_path_parameter_is_400(served_port: int) -> None:
    status, headers, body = exchange(
        served_port, b"GET /seg/%FF%FE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 400
    assert problem_of(status, headers, body)["errors"][0]["loc"] == ["path", "value"]


def test_raw_non_ascii_bytes_in_the_path_are_utf8(served_port: int) -> None:
    raw = "GET /seg/caf\u00e9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, _, body = exchange(served_port, raw)
    assert status == 200
    assert json.loads(body)["value"] == "caf\u00e9"


def test_a_declared_length_over_the_limit_is_413_without_reading_it(served_port: int) -> None:
    raw = b"POST /seg/a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc"
    status, headers, body = exchange(served_port, raw)
    assert status == 413
    problem_of(status, headers, body)
    assert headers.get("connection") == "close"
