"""The connection of ``cdp serve`` (``cdp.transport.http_connection``): uvicorn with a deadline for
request headers, served for real on a loopback port. Half-sent headers get a 408 with a
GraphQL-shaped body and the connection closes; a silent connection is closed without an answer;
complete requests are served and the connection stays open for the next one.
(``cdp serve`` end to end: test_transport.py.)"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from cdp.transport.http_connection import HeaderTimedProtocol, protocol_with_header_timeout

TIMEOUT = 0.5


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain"),
                                                                   (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=protocol_with_header_timeout(TIMEOUT),
                            lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most per read)."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_the_class_carries_its_timeout() -> None:
    built = protocol_with_header_timeout(2.5)
    assert issubclass(built, HeaderTimedProtocol) and built.header_timeout == 2.5
    assert HeaderTimedProtocol.header_timeout == 10.0  # the base is not changed


def test_half_sent_headers_get_a_408_and_the_connection_closes(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Ty")
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    error = json.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "HEADER_TIMEOUT" and error["extensions"]["limit"] == TIMEOUT


def test_a_silent_connection_is_closed_without_an_answer(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert read_all(sock) == b""


def test_complete_requests_are_served_on_one_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = sock.recv(4096)
                assert chunk, answer  # closed before the answer was complete
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ")
        assert read_all(sock) == b""  # idle after the response: closed by the same deadline
