"""The ops listener (`--metrics-port`): /_metrics, /_health and /_ready away from the S3 port.

Probes must answer while slow clients hold every S3 connection slot (or Kubernetes
restarts a healthy pod), and /_metrics, which names every bucket, must not be
readable anonymously on the S3 port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from smarts3.config.sections import read_file
from smarts3.config.settings import Settings
from tests.conftest import Server, metrics_url, start_subprocess_server, stop_server

TOKEN = "ops-port-test-token"
BUCKET = "ops-secret-bucket-name"


def _reply(port: int) -> bytes:
    """A fresh connection's answer to a whole request for /_health (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    return reply


def _refused(sock: socket.socket) -> bool:
    """Whether the server answered (503) or closed a connection that sent half a head."""
    sock.settimeout(0.3)
    try:
        sock.recv(1)
    except TimeoutError:
        return False
    finally:
        sock.settimeout(None)
    return True


@pytest.fixture
def trickled(tmp_path: Path) -> Iterator[tuple[int, str, list[socket.socket]]]:
    """A server with 4 S3 connection slots, and clients that send one header byte a second
    on every socket the test adds to the list."""
    proc, url = start_subprocess_server(tmp_path / "data", env={"SMARTS3_MAX_CONNECTIONS": "4"})
    tricklers: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in list(tricklers):
                with contextlib.suppress(OSError):  # refused (503) and closed by the server
                    sock.send(b"a")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield int(urlsplit(url).port or 0), metrics_url(proc), tricklers
    finally:
        stop.set()
        thread.join()
        for sock in tricklers:
            sock.close()
        stop_server(proc)


def test_probes_answer_on_the_ops_port_while_slow_clients_fill_the_s3_port(
    trickled: tuple[int, str, list[socket.socket]],
) -> None:
    port, ops, tricklers = trickled
    # Fill the 4 S3 slots with slow clients. A slot of a connection that just closed (the start-up
    # probe's) frees a moment later, so a slow client refused meanwhile is replaced.
    deadline = time.monotonic() + 20
    while len(tricklers) < 4:
        assert time.monotonic() < deadline, "the S3 port never filled up"
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /_health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        if _refused(sock):
            sock.close()
        else:
            tricklers.append(sock)
    reply = _reply(port)
    assert reply.startswith(b"HTTP/1.1 503"), reply[:100]
    assert b"<Code>SlowDown</Code>" in reply
    for _ in range(3):
        health = httpx.get(ops + "/_health", timeout=5)
        assert (health.status_code, health.text) == (200, "ok\n")
        assert httpx.get(ops + "/_ready", timeout=5).status_code == 200
        assert httpx.get(ops + "/_metrics", timeout=5).status_code == 200
    assert _reply(port).startswith(b"HTTP/1.1 503")  # still full: the probes took no S3 slot


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    proc, url = start_subprocess_server(tmp_path / "data")
    try:
        Server(url, tmp_path / "data").client().create_bucket(Bucket=BUCKET)
        yield url, metrics_url(proc)
    finally:
        stop_server(proc)


def test_anonymous_metrics_on_the_s3_port_reveal_nothing(served: tuple[str, str]) -> None:
    url, ops = served
    for method in ("GET", "HEAD"):
        response = httpx.request(method, url + "/_metrics")
        assert response.status_code == 404
        assert BUCKET not in response.text
        assert "smarts3_" not in response.text
    scraped = httpx.get(ops + "/_metrics")
    assert scraped.status_code == 200
    assert f'bucket="{BUCKET}"' in scraped.text  # where Prometheus scrapes, the figures are there


def test_ops_port_serves_only_its_three_paths(served: tuple[str, str]) -> None:
    _, ops = served
    assert httpx.head(ops + "/_health").status_code == 200
    for path in ("/", f"/{BUCKET}", f"/{BUCKET}/key", "/_metrics/x", "/_healthz"):
        response = httpx.get(ops + path)
        assert response.status_code == 404, path
        assert "x-amz-request-id" not in response.headers  # never the S3 dispatcher
    assert httpx.put(ops + f"/{BUCKET}/key", content=b"x").status_code == 404
    assert httpx.post(ops + "/_metrics").status_code == 405


@pytest.mark.parametrize("source", ["environment", "config file, 2 workers"])
def test_bearer_token_is_required_on_both_ports(tmp_path: Path, source: str) -> None:
    if source == "environment":
        proc, url = start_subprocess_server(tmp_path / "data", env={"SMARTS3_METRICS_BEARER_TOKEN": TOKEN})
    else:  # workers get the launcher's settings, not a re-read of the environment
        config = tmp_path / "smarts3.yaml"
        config.write_text(f"metrics: {{bearerToken: {TOKEN}}}\n")
        proc, url = start_subprocess_server(tmp_path / "data", "--config", str(config), "--workers", "2")
    try:
        Server(url, tmp_path / "data").client().create_bucket(Bucket=BUCKET)
        for base in (url, metrics_url(proc)):
            anonymous = httpx.get(base + "/_metrics")
            assert anonymous.status_code == 401
            assert BUCKET not in anonymous.text
            assert httpx.get(base + "/_metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            ok = httpx.get(base + "/_metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200
            assert f'bucket="{BUCKET}"' in ok.text
    finally:
        stop_server(proc)


def test_metrics_port_off_disables_the_listener(tmp_path: Path) -> None:
    proc, url = start_subprocess_server(tmp_path / "data", "--metrics-port", "off")
    try:
        assert httpx.get(url + "/_health").status_code == 200
        assert httpx.get(url + "/_metrics").status_code == 404
        assert "  ops:" not in Path(proc.log_path).read_text()  # type: ignore[attr-defined]
    finally:
        stop_server(proc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("9191", 9191), ("off", None), ("OFF", None), ("none", None), ("", None), (False, None), (None, None)],
)
def test_metrics_port_setting(value: object, expected: int | None) -> None:
    assert Settings(metrics_port=value).metrics_port == expected  # type: ignore[arg-type]


def test_metrics_port_defaults_and_file_spellings(tmp_path: Path) -> None:
    assert Settings().metrics_port == 9090
    config = tmp_path / "c.yaml"
    config.write_text("metrics: {port: off}\n")  # YAML 1.1: off is False
    assert Settings(**read_file(config)).metrics_port is None
    config.write_text("metrics: {port: 9443}\n")
    assert Settings(**read_file(config)).metrics_port == 9443
    for bad in ("0", "70000", "nine", True):
        with pytest.raises(ValueError, match="metrics_port"):
            Settings(metrics_port=bad)  # type: ignore[arg-type]
