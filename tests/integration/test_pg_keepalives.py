"""TCP keepalives on every connection to the metadata database (pg.KEEPALIVES), so a host that
vanished without closing them is noticed in about 30 s; a URL's own values win. Read from the
live sockets (what the kernel will do), not only from libpq's parameters."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any, cast

import anyio
import psycopg
import pytest

from smarts3.storage.fs import pg
from smarts3.storage.fs.pgready import MetadataProbe

DEFAULTS = (1, 15, 5, 3, 30000)


def socket_keepalives(conn: psycopg.Connection[Any]) -> tuple[int, int, int, int, int]:
    """(SO_KEEPALIVE, idle s, interval s, count, user timeout ms) of the connection's socket."""
    sock = socket.socket(fileno=os.dup(conn.pgconn.socket))  # a duplicate: closing it leaves the connection
    try:
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        )
    finally:
        sock.close()


def pooled(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    pool = pg.PgPool(dsn, init=lambda: None, max_size=1)
    try:
        with pool.conn() as c:
            yield cast(pg.PgConnection, c).raw
    finally:
        pool.close()


def test_pooled_connections_have_the_default_keepalives(postgres_dsn: str) -> None:
    for raw in pooled(postgres_dsn):
        assert socket_keepalives(raw) == DEFAULTS
        params = raw.info.get_parameters()
        assert {k: params.get(k) for k in pg.KEEPALIVES} == pg.KEEPALIVES
        assert params["application_name"] == "smarts3"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("keepalives_idle=60", (1, 60, 5, 3, 30000)),
        ("keepalives_count=9&tcp_user_timeout=0", (1, 15, 5, 9, 0)),  # 0: the kernel's own
        ("keepalives=0", (0, None, None, None, None)),  # off: libpq leaves the socket alone
    ],
)
def test_the_urls_own_values_win(postgres_dsn: str, query: str, expected: tuple[int | None, ...]) -> None:
    for raw in pooled(f"{postgres_dsn}?{query}"):
        found = socket_keepalives(raw)
        assert tuple(None if e is None else f for f, e in zip(found, expected, strict=True)) == expected


def test_the_probe_and_the_sweep_lock_have_keepalives(postgres_dsn: str) -> None:
    probe = MetadataProbe(f"{postgres_dsn}?keepalives_interval=2")
    try:
        assert anyio.run(probe.problem) is None
        assert probe._conn is not None
        assert socket_keepalives(probe._conn) == (1, 15, 2, 3, 30000)
    finally:
        probe.close()
    lock = pg.PgSweepLock(postgres_dsn, key=4242)
    try:
        assert lock.try_acquire()
        assert lock._conn is not None
        assert socket_keepalives(lock._conn) == DEFAULTS
    finally:
        lock.release()
