"""The process-wide memory budget: uploads write through and XML bodies back off when it is spent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from smarts3.budget import BUDGET, ByteBudget
from smarts3.s3 import xml
from smarts3.s3.errors import S3Error
from smarts3.storage.fs import bodies
from smarts3.storage.fs.env import make_env
from smarts3.storage.fs.layout import Layout
from tests.unit.fs_support import run


@pytest.fixture
def tight() -> Iterator[ByteBudget]:
    """The shared budget, shrunk to 256 KiB for one test."""
    limit, held = BUDGET.limit, BUDGET.held
    BUDGET.limit, BUDGET.held = 256 * 1024, 0
    try:
        yield BUDGET
    finally:
        BUDGET.limit, BUDGET.held = limit, held


def test_try_take_never_overspends() -> None:
    budget = ByteBudget(10)
    assert budget.try_take(6)
    assert not budget.try_take(5)
    assert budget.held == 6
    budget.release(100)
    assert budget.held == 0
    assert not budget.spent


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_xml_over_the_budget_is_slow_down_and_releases_what_it_took(tight: ByteBudget) -> None:
    def read() -> bytes:
        return run(lambda: xml.read_capped(_chunks(b"<a>", b"x" * 1000, b"</a>"), 1 << 20))

    assert read().startswith(b"<a>") and tight.held == 0
    tight.take(tight.limit - 100)  # others hold nearly all of it
    with pytest.raises(S3Error) as err:
        read()
    assert (err.value.code, err.value.status) == ("SlowDown", 503)
    assert tight.held == tight.limit - 100  # everything this body took is given back


class _Writer(bodies.BufferedBodyWriter):
    def _enter_sync(self) -> None:
        pass


def test_uploads_write_through_while_the_budget_is_spent(tmp_path: Path, tight: ByteBudget) -> None:
    layout = Layout(tmp_path)
    layout.ensure(fsync=False)
    env = make_env(layout, fsync=False)
    try:
        run(lambda: _write_through(env, tight))
    finally:
        env.close()


async def _write_through(env: Any, tight: ByteBudget) -> None:
    holders = [_Writer(env) for _ in range(5)]
    for w in holders:
        await w.__aenter__()
        await w.write(b"h" * (60 * 1024))  # five slow uploads hold 300 KiB: over 256 KiB
    assert tight.spent
    late = _Writer(env)
    await late.__aenter__()
    for _ in range(4):
        await late.write(b"l" * (32 * 1024))
    await late.flush()
    # Under FLUSH_BYTES, yet written through at 64 KiB: at most one small piece stays in memory.
    assert late._pending_bytes < bodies.TIGHT_FLUSH_BYTES
    for w in [*holders, late]:
        await w.__aexit__(None, None, None)
    assert tight.held == 0  # failed or abandoned writers give their bytes back
