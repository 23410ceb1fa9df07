"""The `servers` marker: which tests get it, and the guard that fails a test without it that binds or
listens on a socket or starts a process (tests/conftest.py), so `make check` runs unit tests only."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import pytest

from tests.conftest import unit_test_guard


@dataclass
class FakeItem:
    """The two things the guard reads off a test item: its id and its markers."""

    nodeid: str = "tests/test_example.py::test_example"
    markers: set[str] = field(default_factory=set)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


def test_a_unit_test_that_binds_a_socket_fails_naming_the_marker():
    # GIVEN a test without the marker  WHEN it binds a socket  THEN it fails, and the message says what to add
    with unit_test_guard(FakeItem()), socket.socket() as sock:
        with pytest.raises(pytest.fail.Exception, match=r"binds a socket to .*@pytest\.mark\.servers"):
            sock.bind(("127.0.0.1", 0))


def test_a_unit_test_that_listens_fails():
    # GIVEN a test without the marker  WHEN it listens on a socket  THEN it fails
    with unit_test_guard(FakeItem()), socket.socket() as sock:
        with pytest.raises(pytest.fail.Exception, match="listens on a socket"):
            sock.listen()


def test_a_unit_test_that_starts_a_process_fails():
    # GIVEN a test without the marker  WHEN it runs a program  THEN it fails before the program starts
    with unit_test_guard(FakeItem()):
        with pytest.raises(pytest.fail.Exception, match="starts a process"):
            subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_an_attempt_swallowed_in_a_thread_is_still_recorded():
    # GIVEN a server thread that catches everything (so the failure cannot reach the test)
    def serve() -> None:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", 0))
            except BaseException:  # noqa: S110 - what a careless server would do
                pass

    # WHEN it binds under the guard
    with unit_test_guard(FakeItem()) as refused:
        thread = threading.Thread(target=serve)
        thread.start()
        thread.join()
    # THEN the attempt is recorded, for the guard's hook to fail the test with
    assert len(refused) == 1 and "binds a socket" in refused[0]


@pytest.mark.servers  # binds a socket, as a marked test may
def test_a_marked_test_may_bind_a_socket():
    # GIVEN a test with the marker  WHEN it binds a loopback socket  THEN nothing is refused
    with unit_test_guard(FakeItem(markers={"servers"})) as refused, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
    assert refused == []


def test_a_test_using_a_server_fixture_is_marked(request, comprehend_server):
    # GIVEN a test that uses the fake Comprehend (a loopback HTTP server)  THEN the marker came with it
    assert request.node.get_closest_marker("servers") is not None
