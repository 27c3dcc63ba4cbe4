"""`survey serve`'s server (waitress, in a thread): its limits on connections and bodies,
port 0, and the address its links name, over real sockets."""

import http.client
import re
import socket
import threading
import time
import urllib.request

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")

from cartoonlab.survey.app import COOKIE, make_server  # noqa: E402


@pytest.fixture
def running(survey):
    """start(**options) -> (server, its public URL): `make_server` on 127.0.0.1, any free port."""
    servers = []

    def start(**options):
        server, url = make_server(survey, "127.0.0.1", 0, **options)
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        return server, url

    yield start
    for server in servers:
        server.close()


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.effective_port), timeout=15)


def test_idle_connections_do_not_lock_participants_out(running):
    """110 connections that send nothing: with waitress's default limit (100) the page was
    unreachable until they timed out, two minutes later."""
    server, url = running()
    idle = [_connect(server) for _ in range(110)]
    try:
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            assert r.status == 200
    finally:
        for s in idle:
            s.close()


def test_an_idle_connection_is_closed_after_the_channel_timeout(running):
    server, _ = running(channel_timeout=1)
    with _connect(server) as s:
        start = time.monotonic()
        assert s.recv(1) == b"", "closed by the server"
        assert time.monotonic() - start < 10


def test_a_large_body_is_refused_on_its_content_length_unread(running):
    """waitress reads a whole body before the app sees it (it read 20 MiB despite the app's
    16 KiB limit): it must answer 413 on the header, with no byte of the body sent."""
    server, _ = running()
    with _connect(server) as s:
        s.sendall(
            b"POST /answer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {20 << 20}\r\n\r\n".encode()
        )
        assert s.recv(64).startswith(b"HTTP/1.1 413")


def test_port_0_takes_a_free_port_and_links_name_it_not_the_host_header(running):
    server, url = running()
    assert server.effective_port != 0 and url == f"http://127.0.0.1:{server.effective_port}"
    conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
    conn.request("POST", "/start", headers={"Host": "evil.example"})
    r = conn.getresponse()
    r.read()
    assert r.status == 303
    token = re.search(rf"{COOKIE}=([\w-]+)", r.getheader("Set-Cookie")).group(1)
    conn.request("GET", "/next", headers={"Host": "evil.example", "Cookie": f"{COOKIE}={token}"})
    r = conn.getresponse()
    r.read()
    conn.request(
        "GET", r.getheader("Location"), headers={"Host": "evil.example", "Cookie": f"{COOKIE}={token}"}
    )
    html = conn.getresponse().read().decode()
    assert f'href="{url}/p/{token}"' in html and "evil" not in html
    conn.close()
