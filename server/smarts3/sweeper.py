"""Abort multipart uploads that have been idle too long, and apply lifecycle rules, in exactly one worker.

The worker that holds an exclusive flock on `<system dir>/sweeper.lock` runs the
sweep; the others retry the lock each interval, so the sweep survives the
holder's death. The sweep works page by page through the store's public
listing calls, one await at a time, so it never holds up requests.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from smarts3.lifecycle.execute import sweep_lifecycle
from smarts3.storage.base import NoSuchUpload, Store, UploadInfo

log = logging.getLogger("smarts3.sweeper")

# How long a completed upload is remembered so a retried CompleteMultipartUpload gets its answer
# again (SDKs retry within seconds; the sweep interval adds up to one more interval).
COMPLETED_GRACE = 3600.0


class SweepLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


async def _last_activity(store: Store, upload: UploadInfo) -> float:
    latest = upload.initiated
    marker = 0
    while True:
        page = await store.list_parts(upload.bucket, upload.key, upload.upload_id, part_number_marker=marker)
        latest = max([latest, *(p.last_modified for p in page.parts)])
        if not page.is_truncated or page.next_part_number_marker is None:
            return latest
        marker = page.next_part_number_marker


async def sweep(store: Store, expire_after: float, now: float | None = None,
                completed_grace: float = COMPLETED_GRACE) -> int:
    """Abort every upload idle for longer than `expire_after` seconds; returns how many.

    Records of uploads completed more than `completed_grace` seconds ago are dropped too.
    """
    now = time.time() if now is None else now
    await store.forget_completed(now - completed_grace)
    cutoff = now - expire_after
    aborted = 0
    for bucket in await store.list_buckets():
        key_marker = id_marker = ""
        while True:
            page = await store.list_uploads(bucket.name, key_marker=key_marker, upload_id_marker=id_marker)
            for upload in page.uploads:
                if upload.initiated < cutoff and await _last_activity(store, upload) < cutoff:
                    try:
                        await store.abort_upload(upload.bucket, upload.key, upload.upload_id)
                    except NoSuchUpload:
                        continue  # completed or aborted meanwhile
                    aborted += 1
                    log.info("aborted idle multipart upload %s of %s/%s", upload.upload_id, upload.bucket, upload.key)
            if not page.is_truncated or page.next_key_marker is None:
                break
            key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker or ""
    return aborted


async def run_sweeper(
    store: Store,
    lock: SweepLock,
    expire_after: float,
    interval: float,
    on_aborted: Callable[[int], None],
    lifecycle_interval: float | None = None,
) -> None:
    """The multipart sweep every `interval` seconds and, when `lifecycle_interval` is given, a
    lifecycle pass (lifecycle/execute.py) every `lifecycle_interval`, by the lock's holder only."""
    next_multipart = next_lifecycle = time.monotonic()
    try:
        while True:
            if lock.try_acquire():
                if time.monotonic() >= next_multipart:
                    next_multipart = time.monotonic() + interval
                    await _multipart_pass(store, expire_after, on_aborted)
                if lifecycle_interval is not None and time.monotonic() >= next_lifecycle:
                    next_lifecycle = time.monotonic() + lifecycle_interval
                    await _lifecycle_pass(store)
            wake = min(next_multipart, next_lifecycle if lifecycle_interval is not None else next_multipart)
            await anyio.sleep(max(0.0, wake - time.monotonic()) or min(interval, lifecycle_interval or interval))
    finally:
        lock.release()


async def _multipart_pass(store: Store, expire_after: float, on_aborted: Callable[[int], None]) -> None:
    try:
        count = await sweep(store, expire_after)
    except Exception:
        log.exception("multipart sweep failed")
    else:
        if count:
            log.info("multipart sweep aborted %d idle upload(s)", count)
        on_aborted(count)


async def _lifecycle_pass(store: Store) -> None:
    try:
        counts = await sweep_lifecycle(store)
    except Exception:
        log.exception("lifecycle pass failed")
    else:
        if counts.total():
            log.info("lifecycle pass: %s", counts)
