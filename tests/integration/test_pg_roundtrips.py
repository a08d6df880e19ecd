"""Round trips of a write on PostgreSQL (pg.PgConnection): BEGIN, the locks and the SELECTs the
transaction starts with go in one, its writes with the COMMIT in another."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from smarts3.storage.base import NoSuchBucket, ObjectMeta, PreconditionFailed, WriteCondition
from smarts3.storage.fs import pg, pgschema
from smarts3.storage.fs.locks import hold_key
from smarts3.storage.fs.objects import _put_txn
from smarts3.storage.fs.versioning import delete_one

pytestmark = pytest.mark.usefixtures("postgres_cluster")


class Counting:
    """A psycopg connection that counts round trips: a statement on its own, or a script of them
    (pg.PgConnection sends a queue as one, through a ClientCursor)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.trips = 0

    def execute(self, *args: Any) -> Any:
        self.trips += 1
        return self.raw.execute(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


@pytest.fixture
def conn(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[pg.PgConnection, Counting]]:
    pgschema.ensure_schema(postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as raw:
        raw.execute("INSERT INTO buckets (name, created, region) VALUES ('bkt', 0, 'us-east-1')")
        spy = Counting(raw)
        script = psycopg.ClientCursor.execute

        def counted(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            spy.trips += 1
            return script(cursor, *args, **kwargs)

        monkeypatch.setattr(psycopg.ClientCursor, "execute", counted)
        yield pg.PgConnection(spy), spy  # type: ignore[arg-type]


def put(c: pg.PgConnection, key: bytes, body: bytes, condition: WriteCondition | None = None) -> None:
    txn = _put_txn("bkt", key, segments=(), etag='"e"', meta=ObjectMeta(), condition=condition, body=body)
    c.execute("BEGIN IMMEDIATE")
    try:
        txn(pg.as_sqlite(c))
        c.execute("COMMIT")
    finally:
        c.abandon()


def rows(c: pg.PgConnection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in c.execute("SELECT key, body FROM objects ORDER BY key").fetchall()]


def test_a_put_and_a_delete_are_two_round_trips_each(conn: tuple[pg.PgConnection, Counting]) -> None:
    c, spy = conn
    for body in (b"one", b"two"):  # a new key, then an overwrite
        spy.trips = 0
        put(c, b"k", body)
        assert spy.trips == 2
        assert rows(c) == [(b"k", body)]
    spy.trips = 0
    c.execute("BEGIN IMMEDIATE")
    hold_key(pg.as_sqlite(c), "bkt", b"k")
    delete_one(pg.as_sqlite(c), "bkt", b"k", None, "")
    c.execute("COMMIT")
    assert spy.trips == 2
    assert rows(c) == []


def test_a_refused_write_leaves_nothing_and_the_connection_clean(conn: tuple[pg.PgConnection, Counting]) -> None:
    c, _ = conn
    put(c, b"k", b"first")
    with pytest.raises(PreconditionFailed):
        put(c, b"k", b"second", WriteCondition(if_none_match_star=True))
    assert not c.in_transaction
    assert rows(c) == [(b"k", b"first")]
    c.raw.execute("DELETE FROM buckets WHERE name = 'bkt'")
    with pytest.raises(NoSuchBucket):
        put(c, b"j", b"x")
    assert not c.in_transaction


def test_a_failing_queued_write_fails_its_commit(conn: tuple[pg.PgConnection, Counting]) -> None:
    """A write sent only with the COMMIT still raises its own error, and nothing is committed."""
    c, _ = conn
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO buckets (name, created, region) VALUES ('b2', ?, 'r')", (time.time(),))
    c.execute("INSERT INTO buckets (name, created, region) VALUES ('bkt', 0, 'r')")  # duplicate key
    with pytest.raises(psycopg.errors.UniqueViolation):
        c.execute("COMMIT")
    assert c.doubt is False  # the server answered: nothing in doubt
    c.abandon()
    assert not c.in_transaction
    names = [r[0] for r in c.execute("SELECT name FROM buckets ORDER BY name").fetchall()]
    assert names == ["bkt"]


def test_reading_a_queued_writes_result_sends_it(conn: tuple[pg.PgConnection, Counting]) -> None:
    c, _ = conn
    c.execute("BEGIN IMMEDIATE")
    cur = c.execute("UPDATE buckets SET tags = '{}' WHERE name = ?", ("bkt",))
    assert cur.rowcount == 1
    c.execute("COMMIT")
