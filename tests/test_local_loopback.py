"""The loopback server local mode's HTTP stand-ins share (watchlist_workstation/local/loopback.py)."""

from __future__ import annotations

import http.client
import socket
from http.server import BaseHTTPRequestHandler

import pytest

from watchlist_workstation.local.comprehend import ComprehendServer
from watchlist_workstation.local.lambda_service.invoke_api import InvokeServer
from watchlist_workstation.local.loopback import LoopbackHandler, LoopbackServer
from watchlist_workstation.local.textserver import TextServer


class _Hello(LoopbackHandler):
    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HelloServer(LoopbackServer):
    thread_name = "hello"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Hello


def test_port_zero_gives_each_server_a_free_port_of_its_own():
    # GIVEN two servers asked for port 0  WHEN both start
    with HelloServer() as first, HelloServer() as second:
        # THEN each got a port of its own on 127.0.0.1, and each answers there
        assert first.url != second.url
        assert first.url.startswith("http://127.0.0.1:")
        for server in (first, second):
            connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=5)
            connection.request("GET", "/")
            assert connection.getresponse().read() == b"hello"
            connection.close()


def test_stop_closes_a_kept_alive_connection():
    # GIVEN a client holding a kept-alive connection
    server = HelloServer().start()
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=5)
    connection.request("GET", "/")
    assert connection.getresponse().read() == b"hello"
    # WHEN the server stops
    server.stop()
    # THEN the connection is gone: the next request on it fails instead of hanging
    with pytest.raises((ConnectionError, http.client.HTTPException, socket.timeout, OSError)):
        connection.request("GET", "/")
        connection.getresponse().read()
    connection.close()


def test_url_before_start_and_a_second_start_are_errors():
    server = HelloServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    with server, pytest.raises(RuntimeError, match="already running"):
        server.start()


@pytest.mark.parametrize(
    "make",
    [
        lambda host: ComprehendServer(host=host),
        lambda host: TextServer(host=host),
        lambda host: InvokeServer(object(), host=host),
        lambda host: HelloServer(host=host),
    ],
    ids=["comprehend", "text source", "lambda api", "base"],
)
def test_every_stand_in_refuses_an_address_beyond_loopback(make):
    # GIVEN an address other machines could reach  WHEN a server is made for it  THEN it refuses
    with pytest.raises(ValueError, match="loopback"):
        make("0.0.0.0")  # noqa: S104 - the address being refused
