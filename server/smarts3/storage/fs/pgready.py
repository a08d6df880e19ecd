"""Readiness of the PostgreSQL metadata: what `/_ready` answers while the database is away.

A replica that cannot reach its database fails every S3 request, so it should leave the
Service's endpoints (503 on `/_ready`) until the database is back; liveness (`/_health`)
stays up, since restarting the pod does not bring the database back. Probes come often
(every kubelet period, plus load balancers), so the answer is cached: at most one
`SELECT 1` per `ttl` seconds, on one connection of the probe's own (not the request pool,
which a loaded replica may have busy: a full pool must not read as an outage). A probe
that hangs (a host gone without closing the connection) is abandoned after `timeout` and
reads as unreachable; until it returns, later probes do not start another. Its connection has
TCP keepalives (pg.KEEPALIVES), so a vanished host also ends it within about 30 s.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import psycopg

from smarts3.storage.fs.pg import with_keepalives

log = logging.getLogger("smarts3")


class MetadataProbe:
    def __init__(self, dsn: str, *, ttl: float = 2.0, timeout: float = 3.0) -> None:
        self._dsn = dsn
        self._ttl = ttl
        self._timeout = timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._running = threading.Lock()  # one blocking probe at a time, even an abandoned one
        self._checked = -math.inf  # time.monotonic() of the last answer
        self._problem: str | None = None
        self._closed = False

    async def problem(self) -> str | None:
        """None while the database answers, else why it does not (cached for `ttl` seconds)."""
        if time.monotonic() - self._checked < self._ttl:
            return self._problem
        if not self._running.acquire(blocking=False):  # a probe is running (or hung)
            return self._problem if time.monotonic() - self._checked < self._timeout else "not answering"
        problem: str | None = "not answering"
        with anyio.move_on_after(self._timeout):
            problem = await anyio.to_thread.run_sync(self._probe, abandon_on_cancel=True)
        if problem != self._problem:  # log the changes, not every probe
            if problem is None:
                log.warning("metadata database reachable again")
            else:
                log.warning("metadata database unreachable (/_ready answers 503): %s", problem)
        self._problem, self._checked = problem, time.monotonic()
        return problem

    def _probe(self) -> str | None:
        """In a worker thread, holding `_running` (released here: the caller may have given up)."""
        try:
            if self._closed:
                return "shutting down"
            if self._conn is not None:
                try:
                    self._conn.execute("SELECT 1")
                    return None
                except psycopg.Error:
                    self._drop()  # closed since (a restart, a failover): a new connection decides
            try:
                self._conn = psycopg.connect(with_keepalives(self._dsn), autocommit=True,
                                             application_name="smarts3-ready",
                                             connect_timeout=max(2, int(self._timeout)))
                self._conn.execute("SELECT 1")
                return None
            except psycopg.Error as exc:
                self._drop()
                return " ".join(str(exc).split()) or type(exc).__name__
        finally:
            self._running.release()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._closed = True
        if self._running.acquire(timeout=self._timeout):
            try:
                self._drop()
            finally:
                self._running.release()
