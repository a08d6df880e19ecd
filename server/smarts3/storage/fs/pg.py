"""The PostgreSQL dialect of the metadata index: connections, transactions, SQL translation.

The storage modules speak one SQL, written for SQLite, against a connection with
sqlite3's `execute(sql, params)` shape. `PgConnection` gives them that shape over a
psycopg 3 connection, translating each statement once (cached): `?` and `?N`
placeholders, `INSERT OR REPLACE`, and the transaction verbs. Where the dialects
really differ (DDL, usage counters, locking) the code lives in pgschema.py and locks.py.

Blocking, like the SQLite side: every call runs in a worker thread (the store never
reads PostgreSQL on the event loop), so a synchronous psycopg_pool.ConnectionPool
serves them. Each write is its own transaction at READ COMMITTED: PostgreSQL does
group commit itself, so there is no committer thread as in commits.py. What SQLite
got from one writer at a time, many replicas get from transaction-scoped advisory
locks taken at the start of each write (locks.py), plus unique constraints and a
retry on serialization failures and deadlocks. A connection that dies mid-request is
classified here (PgConnection.lost) and handled in rerun.py: rerun if nothing was
committed, 503 if a COMMIT was in flight.
"""

from __future__ import annotations

import logging
import re
import select
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar, cast

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from smarts3.storage.base import MetadataUnavailable
from smarts3.storage.fs import rerun
from smarts3.storage.fs.rerun import CommitInDoubt, ConnectionLost

T = TypeVar("T")
log = logging.getLogger("smarts3")

# Transient failures that a rerun of the whole transaction resolves.
RETRYABLE = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.UniqueViolation,
)
MAX_ATTEMPTS = 20
# Attempts of a write transaction whose connection died before its COMMIT (rerun.py); a
# database still away answers at the next checkout (MetadataUnavailable), not here.
LOST_ATTEMPTS = 3

# Primary keys of the tables written with INSERT OR REPLACE (translated to an upsert).
_KEYS = {
    "parts": ("upload_id", "part_number"),
    "completed_uploads": ("upload_id",),
}
# Statements whose PostgreSQL form is not a mechanical translation.
_OVERRIDES = {
    # Usage counters are sharded per connection (pgschema.py): a bucket's figure is the sum.
    "SELECT bucket, objects, bytes, uploads FROM bucket_usage": (
        "SELECT bucket, SUM(objects)::bigint, SUM(bytes)::bigint, SUM(uploads)::bigint"
        " FROM bucket_usage GROUP BY bucket"
    ),
}
_VERBS = {
    "BEGIN IMMEDIATE": "BEGIN",  # writers serialize on advisory locks, not on the whole database
    "BEGIN": "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",  # read_txn: one snapshot
}
_REPLACE = re.compile(r"INSERT OR REPLACE INTO (\w+) \(([^)]*)\)(.*)", re.S)
_PARAM = re.compile(r"\?(\d*)")


# Rows a listing query fetches at a time (see PgConnection.execute).
STREAM_ROWS = 256
# Statements that change nothing even outside a transaction: losing the connection during one
# leaves nothing in doubt (PgConnection.execute).
_UNCHANGING = ("SELECT", "ROLLBACK", "COMMIT")


def is_postgres(metadata: str) -> bool:
    return metadata.startswith(("postgresql://", "postgres://"))


# libpq's TCP keepalives for every connection to the metadata database (the pool, the readiness
# probe, the sweep lock). Without them a host that vanished without closing its connections (a
# crashed node, a partition, a failover that moves the address) fails requests until the
# kernel gives up, minutes to hours later. Idle 15 s, then 3 probes 5 s apart: about 30 s;
# tcp_user_timeout bounds data sent but never acknowledged the same way. A URL's own values win.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "15",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",  # ms
}


def with_keepalives(dsn: str) -> str:
    """`dsn` (a URL or key=value string) with KEEPALIVES for what it does not set itself."""
    own = conninfo_to_dict(dsn)
    return make_conninfo(dsn, **{k: v for k, v in KEEPALIVES.items() if k not in own})


@lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, tuple[int, ...] | None]:
    """(PostgreSQL text, the parameter order for numbered `?N` placeholders, else None)."""
    if sql in _VERBS:
        return _VERBS[sql], None
    sql = _OVERRIDES.get(sql, sql)
    m = _REPLACE.fullmatch(sql)
    if m is not None:
        table, cols, rest = m.groups()
        keys = _KEYS[table]
        names = [c.strip() for c in cols.split(",")]
        sets = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in keys)
        sql = f"INSERT INTO {table} ({cols}){rest} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    sql = sql.replace("%", "%%")
    order: list[int] = []
    numbered = False

    def place(m: re.Match[str]) -> str:
        nonlocal numbered
        if m.group(1):
            numbered = True
            order.append(int(m.group(1)) - 1)
        else:
            order.append(len(order))
        return "%s"

    sql = _PARAM.sub(place, sql)
    return sql, tuple(order) if numbered else None


def _streamed(sql: str) -> bool:
    """An ordered range without a LIMIT: a listing walk (listing.py) that reads only what a page needs."""
    return " ORDER BY " in sql and " LIMIT " not in sql


class _Result:
    """One statement's result out of a multi-statement round trip."""

    __slots__ = ("_at", "_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._at == len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._at:]
        self._at = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Deferred:
    """The cursor of a write not sent yet (PgConnection.execute): reading its result sends it."""

    __slots__ = ("_conn", "cursor")

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn
        self.cursor: _Result | None = None

    def _sent(self) -> _Result:
        if self.cursor is None:
            self._conn.flush()
        assert self.cursor is not None
        return self.cursor

    @property
    def rowcount(self) -> int:
        return self._sent().rowcount

    def fetchone(self) -> Any:
        return self._sent().fetchone()

    def fetchall(self) -> list[Any]:
        return self._sent().fetchall()


# A statement waiting to be sent: (text, params, what gets its cursor: a _Deferred, PREFETCH, or None).
PREFETCH = "prefetch"
_Queued = tuple[str, Sequence[Any], "_Deferred | str | None"]
_WRITES = ("INSERT", "UPDATE", "DELETE")


class PgConnection:
    """The part of sqlite3.Connection the storage modules use, over one psycopg connection.

    Round trips, not the server's work, are most of a small write's time on PostgreSQL (about
    60 us each on loopback, a network's worth off-host): a PUT was BEGIN, the advisory locks,
    two SELECTs, the INSERT and COMMIT, six in a row. So nothing is sent before it must be:
    BEGIN and the locks wait for the first statement whose result is needed, writes (whose
    results the storage modules rarely read) for the next SELECT or the COMMIT, and the
    queue goes out as one multi-statement query (one round trip; the server still runs it in
    order, so a SELECT queued after a lock reads what the lock guards, and stops at the first
    error). Its parameters are bound on this side (psycopg's ClientCursor, which escapes
    them): psycopg's pipeline mode did the same in one round trip too, but sent and polled per
    statement and cost more CPU here than it saved. The SELECTs a write transaction is known
    to start with are queued with its locks (`advisory(prefetch=)`) and answered from there.
    A PUT or DELETE is two round trips. A statement sent alone is prepared by psycopg as
    before (from its fifth run on a connection)."""

    __slots__ = ("_cursors", "_prefetched", "_queue", "_writing", "doubt", "raw")

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self._cursors = 0
        self._writing = False  # in a write transaction (BEGIN IMMEDIATE), not a read_txn
        self.doubt = False  # the connection died while a change was being committed (lost())
        self._queue: list[_Queued] = []
        # Results of prefetched SELECTs by (text, params), each handed out once; dropped at
        # the transaction's first write, after which they might no longer be what it would read.
        self._prefetched: dict[tuple[str, tuple[Any, ...]], _Result] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        text, order = translate(sql)
        if order is not None:
            params = [params[i] for i in order]
        if text.startswith("BEGIN"):
            self._writing = text == "BEGIN"
            self._prefetched.clear()
            self._queue.append((text, params, None))  # sent with the first statement of the transaction
            return _Deferred(self)
        if text.startswith("SELECT"):
            if self._prefetched or any(what == PREFETCH for _, _, what in self._queue):
                self.flush()
                hit = self._prefetched.pop((text, tuple(params)), None)
                if hit is not None:
                    return hit
        else:
            self._prefetched.clear()
        if (text == "COMMIT" and self._writing) or (
            not text.startswith(_UNCHANGING) and not self.in_transaction
        ):
            return self._commit(text, params)
        if self.in_transaction and _streamed(sql):
            # SQLite steps a listing query row by row and the walk stops where the page is full; a
            # client-side cursor would fetch the whole range (a bucket's every key) first. A server-side
            # cursor fetches STREAM_ROWS at a time; it closes with the (read) transaction.
            self.flush()
            self._cursors += 1
            cursor = self.raw.cursor(name=f"smarts3_{self._cursors}")
            cursor.itersize = STREAM_ROWS
            return cursor.execute(cast(Any, text), params)
        if self._writing and text.startswith(_WRITES) and " RETURNING " not in text:
            deferred = _Deferred(self)
            self._queue.append((text, params, deferred))
            return deferred
        return self._send(text, params)

    def _send(self, text: str | None, params: Sequence[Any] = ()) -> psycopg.Cursor[Any] | _Result | None:
        """Send the queue and then `text` (if any) in one round trip; the result of `text`."""
        queue, self._queue = self._queue, []
        if not queue:
            return None if text is None else self.raw.execute(cast(Any, text), params)
        if text is not None:
            queue.append((text, params, None))
        cur = psycopg.ClientCursor(self.raw)
        script = ";".join(cur.mogrify(cast(Any, t), a) for t, a, _ in queue)
        cur.execute(cast(Any, script))
        last = None
        for i, (queued, args, what) in enumerate(queue):
            if i:
                cur.nextset()
            result = _Result(cur.fetchall() if cur.description is not None else [], cur.rowcount)
            if isinstance(what, _Deferred):
                what.cursor = result
            elif what == PREFETCH:
                self._prefetched[(queued, tuple(args))] = result
            last = result
        return last if text is not None else None

    def flush(self) -> None:
        """Send what is queued (a deferred write's result was asked for, or prefetched SELECTs')."""
        self._send(None)

    def _commit(self, text: str, params: Sequence[Any]) -> psycopg.Cursor[Any] | _Result:
        """A statement that commits a change: if the connection dies during it, whether the
        change was applied is unknown (`doubt`); an error the server answered leaves no doubt.
        The writes queued before it go in the same round trip."""
        self.doubt = True
        try:
            cursor = self._send(text, params)
        except psycopg.Error:
            self.doubt = self.raw.closed
            raise
        assert cursor is not None
        self.doubt = False
        self._writing = False
        rerun.committed()
        return cursor

    def lost(self, exc: psycopg.Error) -> MetadataUnavailable:
        """What a connection that died under `exc` means for the operation (rerun.py)."""
        what = " ".join(str(exc).split()) or type(exc).__name__
        if self.doubt:
            return CommitInDoubt(f"connection lost during a commit, which may or may not have been applied: {what}")
        return ConnectionLost(f"connection lost, nothing committed: {what}")

    @property
    def in_transaction(self) -> bool:
        return bool(self._queue and self._queue[0][0].startswith("BEGIN")) or (
            self.raw.info.transaction_status != TransactionStatus.IDLE
        )

    def abandon(self) -> None:
        """Before the connection goes back to the pool: what is queued is dropped (nothing of it
        was sent), a transaction the server has open is rolled back."""
        self._queue.clear()
        self._prefetched.clear()
        if not self.raw.closed and self.raw.info.transaction_status != TransactionStatus.IDLE:
            _rollback(self.raw)

    def advisory(
        self,
        shared: Sequence[int] = (),
        exclusive: Sequence[int] = (),
        prefetch: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> None:
        """Transaction-scoped advisory locks (locks.py), taken in ascending order of id so two
        transactions locking overlapping sets cannot deadlock. Queued, like BEGIN before them,
        with `prefetch`: the (SQLite) SELECTs the transaction will make next, run right after
        the locks are granted and handed out by execute() when it asks (all in one round trip)."""
        if len(shared) == 1 and len(exclusive) == 1:
            self._queue.append(("SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock(%s)",
                                (shared[0], exclusive[0]), None))
        else:
            for ids, fn in ((shared, "pg_advisory_xact_lock_shared"), (exclusive, "pg_advisory_xact_lock")):
                if len(ids) == 1:
                    self._queue.append((f"SELECT {fn}(%s)", (ids[0],), None))
                elif ids:
                    self._queue.append((
                        f"SELECT {fn}(x) FROM (SELECT DISTINCT x FROM unnest(%s::bigint[]) x ORDER BY x) s",  # noqa: S608
                        (sorted(ids),), None,
                    ))
        self._prefetched.clear()
        for sql, params in prefetch:
            text, order = translate(sql)
            if order is not None:
                params = [params[i] for i in order]
            self._queue.append((text, params, PREFETCH))
        if not self.in_transaction:
            self.flush()  # outside a transaction a lock would be released at once: keep today's behaviour


def closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """Whether PostgreSQL closed this idle pooled connection (a restart, a failover, an idle
    timeout), which would fail the one request that draws it. An idle connection has nothing
    to read unless the server sent something unasked (the FATAL of a terminated backend, or
    end-of-file), so a zero-timeout poll of its socket (a syscall, no round trip) decides,
    and only then does the empty-query round trip of check_connection tell. Measured on
    loopback (checkout + SELECT 1, medians of 5 x 2,000, loaded 2-core host): 131 us bare,
    110 us with this poll (within the noise), 183 us with check_connection on every checkout
    (a round trip more; off-host, a network round trip). A server that vanished without
    closing (a host or network down) is noticed by TCP keepalives (KEEPALIVES) within about
    30 s; the request that meets such a connection is handled as any lost one (rerun.py)."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return True
    return False


def _rollback(raw: psycopg.Connection[Any]) -> None:
    try:
        raw.execute("ROLLBACK")
    except psycopg.Error:
        if not raw.closed:
            raise
        # Died meanwhile: the server rolled the transaction back with the connection.


def as_sqlite(conn: PgConnection) -> sqlite3.Connection:
    """The storage modules are typed against sqlite3.Connection; PgConnection provides the subset they use."""
    return cast(sqlite3.Connection, conn)


# How long a request waits for a pooled connection before it is answered 503 (MetadataUnavailable).
CHECKOUT_TIMEOUT = 10.0
# How long one psycopg_pool reconnection chain retries (1 s, then doubling) before it gives up;
# the next waiting request starts a new chain at once. With the library's 5 minutes the delay
# grew with the outage: after a 5-minute outage the pool stayed empty for up to 2 more minutes
# while the database answered and /_ready said 200. Short chains bound that to about 2 s.
RECONNECT_TIMEOUT = 3.0


class PgPool:
    """The metadata pool over PostgreSQL: `conn()`, `writer()` and `close()` like db.Pool."""

    def __init__(self, dsn: str, *, init: Callable[[], None], max_size: int = 16,
                 checkout_timeout: float = CHECKOUT_TIMEOUT) -> None:
        self._dsn = dsn
        self._init = init
        self._max = max_size
        self._checkout_timeout = checkout_timeout
        self._pool: ConnectionPool[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _get(self) -> ConnectionPool[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            pool = self._pool
        if pool is not None:
            return pool
        self._init()
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    with_keepalives(self._dsn),
                    min_size=1,
                    max_size=self._max,
                    kwargs={"autocommit": True, "application_name": "smarts3"},  # pg_stat_activity
                    open=True,
                    name="smarts3-metadata",
                    timeout=self._checkout_timeout,
                    reconnect_timeout=RECONNECT_TIMEOUT,
                )
            return self._pool

    def _checkout(self, pool: ConnectionPool[Any]) -> psycopg.Connection[Any]:
        """A connection from the pool, skipping those the server closed. Not the pool's `check`
        callback: after a failed check psycopg_pool sleeps (1 s, then doubling) before the next
        try, so a request meeting the dead connections after a restart waited seconds each."""
        for _ in range(self._max):
            raw: psycopg.Connection[Any] = pool.getconn()
            if not closed_by_server(raw):
                return raw
            raw.close()
            pool.putconn(raw)  # a closed connection is dropped, and the pool connects another
        last: psycopg.Connection[Any] = pool.getconn()  # new connections closed at once: the request meets the error
        return last

    @contextmanager
    def conn(self) -> Iterator[sqlite3.Connection]:
        try:
            pool = self._get()
            raw = self._checkout(pool)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            # No connection to be had: the database is down or every connection is busy. A 503
            # the client retries, not a 500 after psycopg_pool's default 30 s.
            raise MetadataUnavailable(str(exc)) from exc
        try:
            c = PgConnection(raw)
            try:
                yield as_sqlite(c)
            except psycopg.Error as exc:
                if not raw.closed:
                    raise
                # Died mid-request (a terminated backend, a restart, a failover): a rerun or a 503, never a 500.
                raise c.lost(exc) from exc
            finally:
                c.abandon()  # never hand on a connection mid-transaction
        finally:
            pool.putconn(raw)  # a closed connection is dropped, and the pool connects another

    @contextmanager
    def writer(self) -> Iterator[sqlite3.Connection]:
        """A connection inside a transaction; committed when the block ends, rolled back on
        error (by conn(), which also rolls back what a dead connection cannot)."""
        with self.conn() as c:
            c.execute("BEGIN IMMEDIATE")
            yield c
            c.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class PgCommitter:
    """commits.GroupCommitter's interface: `run(fn)` is one transaction, rerun on a transient failure.

    `fn` gets a fresh transaction each attempt and keeps side effects outside the database to
    its caller (as with the SQLite committer), so a rerun is safe."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        lost = 0
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self._pool.writer() as c:
                    return fn(c)
            except RETRYABLE:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
            except ConnectionLost as exc:
                # Died before its COMMIT was sent, so rolled back with its connection: rerun
                # on a fresh one. A lost COMMIT (CommitInDoubt) is not caught: never rerun blindly.
                lost += 1
                if lost == LOST_ATTEMPTS:
                    raise
                log.warning("metadata write transaction rerun: %s", exc)
        raise AssertionError("unreachable")

    def close(self) -> None:
        pass


class PgSweepLock:
    """sweeper.SweepLock over a session advisory lock: the one replica that sweeps uploads and
    lifecycle holds it on a connection of its own; it is released when that connection ends
    (the holder's exit or death), and another replica takes over at its next try."""

    def __init__(self, dsn: str, key: int) -> None:
        self._dsn = dsn
        self._key = key
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                self.release()  # the session (and with it the lock) is gone
        try:
            conn = psycopg.connect(with_keepalives(self._dsn), autocommit=True, connect_timeout=5)
        except psycopg.Error:
            return False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if row is not None and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
