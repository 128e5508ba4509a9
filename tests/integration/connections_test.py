"""Thousands of client connections at once, each served, none needing a thread of its own:
the broker runs num.io.threads threads whatever the number of connections."""
import os
import socket

from harness import kcat, parse_api_versions_v0, read_response, send_request

CONNECTIONS = 3000
API_VERSIONS = 18


def broker_threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_thousands_of_connections_are_served_by_a_few_threads(make_broker):
    b = make_broker(overrides={"num.io.threads": 2})
    threads_before = broker_threads(b.proc.pid)
    socks = []
    try:
        for i in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
            send_request(s, API_VERSIONS, 0, i, b"")
            socks.append(s)
        # Every connection is still open and answered, in any order of reading.
        for i, s in enumerate(socks):
            corr, body = read_response(s)
            assert corr == i
            assert parse_api_versions_v0(body)["error_code"] == 0
        assert broker_threads(b.proc.pid) == threads_before
        # A stock client is served alongside them.
        out = kcat("-b", b.bootstrap, "-L").stdout.decode()
        assert "broker 1 at" in out
    finally:
        for s in socks:
            s.close()
