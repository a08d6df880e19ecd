"""Concurrent writers, in one process and across processes sharing a data dir."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import anyio
import pytest

from smarts3.storage.base import PreconditionFailed, WriteCondition
from smarts3.storage.fs import FilesystemStore
from tests.unit.fs_support import (
    BUCKET,
    body_files,
    etag_of,
    get,
    process_writer,
    put,
    temp_files,
    with_store,
)


def _check_single_intact(store_dir: Path, key: str, candidates: set[bytes]) -> None:
    async def main(store: FilesystemStore) -> None:
        head = await store.head_object(BUCKET, key)
        data = await get(store, key)
        assert data in candidates
        assert head.etag == etag_of(data) and head.size == len(data)

    with_store(store_dir, main)


def test_twenty_concurrent_writers_one_key(tmp_path: Path) -> None:
    # Bodies over the flush size, so writers interleave across thread hops.
    bodies = {bytes([i]) * (1_500_000 + i) for i in range(20)}

    async def main(store: FilesystemStore) -> None:
        async with anyio.create_task_group() as tg:
            for body in bodies:
                tg.start_soon(put, store, "k", body)

    with_store(tmp_path, main)
    _check_single_intact(tmp_path, "k", bodies)
    assert len(body_files(tmp_path)) == 1
    assert temp_files(tmp_path) == []


def test_conditional_race_has_one_winner(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> int:
        wins = 0

        async def attempt(i: int) -> None:
            nonlocal wins
            try:
                await put(store, "k", b"%d" % i, condition=WriteCondition(if_none_match_star=True))
                wins += 1
            except PreconditionFailed:
                pass

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(attempt, i)
        return wins

    assert with_store(tmp_path, main) == 1
    assert len(body_files(tmp_path)) == 1


def test_if_match_race_has_one_winner(tmp_path: Path) -> None:
    async def main(store: FilesystemStore) -> int:
        first = await put(store, "k", b"v0")
        wins = 0

        async def attempt(i: int) -> None:
            nonlocal wins
            try:
                await put(store, "k", b"v%d" % i, condition=WriteCondition(if_match=first.etag))
                wins += 1
            except PreconditionFailed:
                pass

        async with anyio.create_task_group() as tg:
            for i in range(1, 21):
                tg.start_soon(attempt, i)
        return wins

    assert with_store(tmp_path, main) == 1


@pytest.mark.slow
def test_two_processes_share_a_data_dir(tmp_path: Path) -> None:
    with_store(tmp_path, lambda store: anyio.sleep(0))  # create layout and bucket
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        futures = [pool.submit(process_writer, str(tmp_path), tag, start_at, 10) for tag in (1, 2)]
        results = [f.result(timeout=120) for f in futures]
    assert sum(plain for plain, _ in results) == 20
    assert sum(wins for _, wins in results) == 1
    candidates = {bytes([t, i]) * 600_000 for t in (1, 2) for i in range(10)}
    _check_single_intact(tmp_path, "shared", candidates)
    _check_single_intact(tmp_path, "once", candidates)
    assert len(body_files(tmp_path)) == 2
    assert temp_files(tmp_path) == []
