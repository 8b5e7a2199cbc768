"""Slow and abusive clients against the service started by the launcher: deadlines answered 408 and closed, a 503 cap.

The service runs as `make serve` runs it, with small declared limits so each case takes seconds.
Clients are raw sockets: an HTTP library would send whole requests, and these tests need requests
that stop half-way. The only clocks are generous multiples of the declared timeouts: an answer or a
close that does not come within `READ_SECONDS`, or before a one-byte-per-0.2 s drip has lasted 30 s,
is a hang and fails the test.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from pydantic import ValidationError

from ml_lifecycle.serving.config import ServingConfig
from ml_lifecycle.spec import ProblemSpec
from tests.conftest import add_env

from .conftest import as_records, running_service

LIMITS = {"body_timeout_seconds": 1, "header_timeout_seconds": 3, "limit_concurrency": 8, "timeout_keep_alive_seconds": 1}
READ_SECONDS = 30  # ten times the longest declared timeout
SLOW_BODY_HEAD = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n")


@pytest.fixture(scope="module")
def limited(deployed_project: Path) -> Iterator[tuple[httpx.Client, int]]:
    """The service started by the launcher with small client limits; its client and port."""
    env = add_env(deployed_project, "slow_clients", {"globals.yml": "data_root: data/test\n",
                                                     "parameters_serving.yml": {"serving": LIMITS}})
    with running_service(deployed_project, env_name=env, launcher=True) as client:
        yield client, client.base_url.port


def connect(port: int) -> socket.socket:
    """Open a raw connection to the service, reads bounded by READ_SECONDS."""
    return socket.create_connection(("127.0.0.1", port), timeout=READ_SECONDS)


def read_until_closed(connection: socket.socket) -> bytes:
    """Return everything the service sends until it closes the connection (a timeout here is a hang)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):  # a close with our bytes unread may reach us as a reset
        while chunk := connection.recv(65536):
            received += chunk
    return received


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Return the status, headers (lower-case names) and body of one raw HTTP response."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def assert_timeout_answer(answer: bytes, setting: str) -> None:
    """Check a 408 with a JSON body naming the setting, announcing the close."""
    status, headers, body = parse(answer)
    assert status == 408, answer[:300]
    assert headers["connection"] == "close" and headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["error"] == "request timeout" and f"serving.{setting}" in error["detail"]


def test_a_body_not_sent_in_time_gets_408_and_the_connection_is_closed(limited: tuple[httpx.Client, int]):
    with connect(limited[1]) as connection:
        connection.sendall(SLOW_BODY_HEAD + b'{"')  # 2 of the 100 bytes declared
        assert_timeout_answer(read_until_closed(connection), "body_timeout_seconds")


def test_a_request_head_not_sent_in_time_gets_408_and_the_connection_is_closed(limited: tuple[httpx.Client, int]):
    with connect(limited[1]) as connection:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        assert_timeout_answer(read_until_closed(connection), "header_timeout_seconds")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(limited: tuple[httpx.Client, int]):
    with connect(limited[1]) as connection:
        assert read_until_closed(connection) == b""


def drip(connection: socket.socket, data: bytes) -> bytes:
    """Send `data` one byte per 0.2 s until the service closes the connection; return all it sent."""
    connection.settimeout(0.2)
    received = b""
    for byte in data:
        with contextlib.suppress(OSError):  # the service may have closed already: what it sent is still to be read
            connection.sendall(bytes([byte]))
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the connection is still open after {len(data) * 0.2:g} s of one byte per 0.2 s")


def slow_body_head(length: int) -> bytes:
    """Return a complete POST /predict head declaring a body of `length` bytes."""
    return SLOW_BODY_HEAD.replace(b"Content-Length: 100", f"Content-Length: {length}".encode())


# 150 bytes at one per 0.2 s take 30 s: ten times past every deadline
@pytest.mark.parametrize(("start", "setting"), [
    (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ", "header_timeout_seconds"),
    (slow_body_head(1000), "body_timeout_seconds"),
])
def test_sending_a_byte_at_a_time_does_not_move_the_deadline(limited: tuple[httpx.Client, int], start: bytes, setting: str):
    with connect(limited[1]) as connection:
        connection.sendall(start)
        assert_timeout_answer(drip(connection, b"1" * 150), setting)


def test_the_rest_of_a_body_refused_as_too_large_is_bounded_by_the_head_deadline(limited: tuple[httpx.Client, int]):
    with connect(limited[1]) as connection:
        connection.sendall(slow_body_head(2_000_000))  # over serving.max_body_bytes: refused before it is read
        status, headers, _ = parse(drip(connection, b"1" * 150))
        assert status == 413 and "connection" not in headers  # the connection was meant for reuse, then dropped


def test_requests_past_the_connection_cap_get_503_and_the_service_recovers(limited: tuple[httpx.Client, int],
                                                                           new_rows: pd.DataFrame, spec: ProblemSpec):
    client, port = limited
    with contextlib.ExitStack() as stack:
        idle = [stack.enter_context(connect(port)) for _ in range(LIMITS["limit_concurrency"])]
        answers = []
        for request in (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", SLOW_BODY_HEAD + b'{"'):
            with connect(port) as connection:
                connection.sendall(request)
                answers.append(read_until_closed(connection))
        assert [parse(answer)[0] for answer in answers] == [503, 503]
        assert all(parse(answer)[1]["connection"] == "close" for answer in answers)
        # The service itself drops the idle connections at the head deadline: no client has to go away.
        assert [read_until_closed(connection) for connection in idle] == [b""] * len(idle)
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json=as_records(new_rows.iloc[:1], spec)[0]).status_code == 200


@pytest.mark.parametrize("setting", ["body_timeout_seconds", "header_timeout_seconds", "limit_concurrency",
                                     "timeout_keep_alive_seconds"])
def test_a_client_limit_must_be_positive(setting: str):
    with pytest.raises(ValidationError, match=setting):
        ServingConfig.model_validate({setting: 0})
