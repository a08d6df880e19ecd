"""Carry out every bucket's lifecycle rules: one pass of the sweeper.

Works through the store's public calls only, a page at a time (small pages, one store call
per await, and after each page a pause as long as the page took), so a sweep never holds up
requests for long and uses at most about half of the worker's time. Each action is one
store transaction, and a pass decides everything afresh from what the store holds: a pass cut
short by a crash leaves no partial state, and the next pass finishes the work.

- Current versions past their Expiration (Days from Last-Modified, or Date): removed in an
  unversioned bucket; a delete marker is added in a versioned one, as S3 does.
- Noncurrent versions NoncurrentDays after they became noncurrent (when their successor was
  written: the next newer version's Last-Modified), keeping the NewerNoncurrentVersions newest.
- A delete marker that is the only version left of its key (ExpiredObjectDeleteMarker, or an
  Expiration by Days once the marker is that old).
- Multipart uploads DaysAfterInitiation after they were started.

A version under legal hold or unexpired retention is never removed (Store.delete_versions'
`keep`, decided in the delete's transaction).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import anyio

from smarts3.lifecycle.rules import Rule, Rules, day_seconds, expiry_of, stored
from smarts3.s3.handlers.objectlock import HOLD, UNTIL
from smarts3.storage.base import (
    BucketInfo,
    NoSuchUpload,
    ObjectInfo,
    StorageError,
    Store,
    VersionEntry,
)

log = logging.getLogger("smarts3.lifecycle")

PAGE = 100  # versions or uploads per store call
PAUSE = 0.01  # seconds between pages: requests get the loop and the database in between


@dataclass
class Counts:
    expired: int = 0  # current versions removed or hidden by a delete marker
    noncurrent: int = 0  # noncurrent versions removed
    markers: int = 0  # expired delete markers removed
    aborted: int = 0  # multipart uploads aborted
    kept_locked: int = 0  # versions due but kept by Object Lock

    def total(self) -> int:
        return self.expired + self.noncurrent + self.markers + self.aborted


def locked(info: ObjectInfo, now: float) -> bool:
    """Legal hold, or a retention date still ahead (either mode: lifecycle never bypasses)."""
    extra = info.meta.extra
    if extra.get(HOLD) == "ON":
        return True
    until = extra.get(UNTIL)
    if until is None:
        return False
    try:
        return datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp() > now
    except ValueError:
        return True  # unreadable: keep, never guess a lock away


async def _rest(started: float) -> None:
    """Pause as long as the page took (at least PAUSE): a pass uses at most half of the time."""
    await anyio.sleep(max(PAUSE, time.monotonic() - started))


class _Pass:
    def __init__(self, store: Store, bucket: BucketInfo, rules: Rules, now: float, day: float) -> None:
        self.store = store
        self.bucket = bucket
        self.rules = tuple(r for r in rules if r.enabled)
        self.now = now
        self.day = day
        self.counts = Counts()
        self._unversioned: dict[str, tuple[VersionEntry, str]] = {}  # key → (listed version, rule id)

    async def _tags(self, key: str, version_id: str | None) -> Mapping[str, str]:
        try:
            info = await self.store.head_object(self.bucket.name, key, version_id)
        except StorageError:
            return {}
        return info.meta.tags

    async def _matching(self, rules: list[Rule], entry: VersionEntry) -> list[Rule]:
        """The rules whose filter takes this version (its tags are read only when a rule asks)."""
        candidates = [r for r in rules if r.filter.matches_key(entry.key, entry.size)]
        if not any(r.filter.tags for r in candidates):
            return candidates
        tags = await self._tags(entry.key, entry.version_id)
        return [r for r in candidates if r.filter.matches_tags(tags)]

    async def key(self, group: list[VersionEntry]) -> None:
        """All versions of one key, newest first."""
        head = group[0]
        if head.is_latest and not head.marker:
            if await self._expire_current(head):
                return  # the noncurrent versions are the next pass's business
        elif head.is_latest and head.marker and len(group) == 1:
            await self._expire_marker(head)
            return
        await self._expire_noncurrent(group)

    async def _expire_current(self, entry: VersionEntry) -> bool:
        rules = [r for r in self.rules if r.expiration_days is not None or r.expiration_date_ts is not None]
        due = [
            r for r in await self._matching(rules, entry)
            if (at := expiry_of(r, entry.last_modified, self.day)) is not None and at <= self.now
        ]
        if not due:
            return False
        name = self.bucket.name
        if not self.bucket.versioning:
            self._unversioned[entry.key] = (entry, due[0].id)  # removed with the rest of the page
            return True
        try:
            current = await self.store.head_object(name, entry.key)
        except StorageError:
            return True
        if current.version_id != entry.version_id:
            return True  # a newer version arrived since the listing
        await self.store.delete_versions(name, [(entry.key, None)])
        self.counts.expired += 1
        log.info("lifecycle rule %r expired %s/%s", due[0].id, name, entry.key)
        return True

    async def _flush_unversioned(self) -> None:
        """Remove the page's expired objects of an unversioned bucket in one transaction."""
        batch, self._unversioned = self._unversioned, {}
        if not batch:
            return
        now = time.time()

        def guard(v: ObjectInfo) -> bool:  # overwritten since the listing: not the object that expired
            listed = batch.get(v.key)
            return listed is None or v.etag != listed[0].etag or v.last_modified != listed[0].last_modified or (
                locked(v, now)
            )

        items = [(key, entry.version_id) for key, (entry, _) in batch.items()]
        for outcome in await self.store.delete_versions(self.bucket.name, items, keep=guard):
            if not outcome.kept:
                self.counts.expired += 1
                log.info("lifecycle rule %r expired %s/%s", batch[outcome.key][1], self.bucket.name, outcome.key)

    async def _expire_marker(self, entry: VersionEntry) -> None:
        for rule in await self._matching(list(self.rules), entry):
            if rule.filter.tags:
                continue
            days = rule.expiration_days
            aged = days is not None and entry.last_modified + days * self.day <= self.now
            if rule.expired_object_delete_marker or aged:
                await self.store.delete_versions(self.bucket.name, [(entry.key, entry.version_id)])
                self.counts.markers += 1
                log.info("lifecycle rule %r removed the expired delete marker of %s/%s",
                         rule.id, self.bucket.name, entry.key)
                return

    async def _expire_noncurrent(self, group: list[VersionEntry]) -> None:
        rules = [r for r in self.rules if r.noncurrent_days is not None]
        if not rules:
            return
        doomed: list[tuple[str, str | None]] = []
        for index in range(1, len(group)):
            entry, successor = group[index], group[index - 1]
            newer = index - 1  # noncurrent versions newer than this one
            for rule in await self._matching(rules, entry):
                assert rule.noncurrent_days is not None
                if successor.last_modified + rule.noncurrent_days * self.day > self.now:
                    continue
                if rule.newer_noncurrent_versions is not None and newer < rule.newer_noncurrent_versions:
                    continue
                doomed.append((entry.key, entry.version_id))
                break
        if not doomed:
            return
        now = time.time()
        outcomes = await self.store.delete_versions(self.bucket.name, doomed, keep=lambda v: locked(v, now))
        for outcome in outcomes:
            if outcome.kept:
                self.counts.kept_locked += 1
            else:
                self.counts.noncurrent += 1
                log.info("lifecycle expired noncurrent version %s of %s/%s",
                         outcome.version_id, self.bucket.name, outcome.key)

    async def versions(self) -> None:
        key_marker = version_marker = ""
        group: list[VersionEntry] = []
        while True:
            started = time.monotonic()
            page = await self.store.list_object_versions(
                self.bucket.name, key_marker=key_marker, version_id_marker=version_marker, max_keys=PAGE
            )
            for entry in page.entries:
                if group and entry.key != group[0].key:
                    await self.key(group)
                    group = []
                group.append(entry)
            await self._flush_unversioned()
            if not page.is_truncated or page.next_key_marker is None:
                break
            key_marker, version_marker = page.next_key_marker, page.next_version_id_marker or ""
            await _rest(started)
        if group:
            await self.key(group)
            await self._flush_unversioned()

    async def uploads(self) -> None:
        rules = [r for r in self.rules if r.abort_days is not None]
        if not rules:
            return
        key_marker = id_marker = ""
        while True:
            started = time.monotonic()
            page = await self.store.list_uploads(
                self.bucket.name, key_marker=key_marker, upload_id_marker=id_marker, max_uploads=PAGE
            )
            for upload in page.uploads:
                for rule in rules:
                    assert rule.abort_days is not None
                    if upload.key.startswith(rule.filter.prefix) and (
                        upload.initiated + rule.abort_days * self.day <= self.now
                    ):
                        try:
                            await self.store.abort_upload(upload.bucket, upload.key, upload.upload_id)
                        except NoSuchUpload:
                            break  # completed or aborted meanwhile
                        self.counts.aborted += 1
                        log.info("lifecycle rule %r aborted upload %s of %s/%s",
                                 rule.id, upload.upload_id, upload.bucket, upload.key)
                        break
            if not page.is_truncated or page.next_key_marker is None:
                break
            key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker or ""
            await _rest(started)


async def sweep_lifecycle(store: Store, now: float | None = None, day: float | None = None) -> Counts:
    """One pass over every bucket that has enabled lifecycle rules."""
    total = Counts()
    for bucket in await store.list_buckets():
        rules = stored(bucket.extra)
        if not rules or not any(r.enabled for r in rules):
            continue
        one = _Pass(store, bucket, rules, time.time() if now is None else now, day or day_seconds())
        try:
            await one.versions()
            await one.uploads()
        except StorageError as exc:  # the bucket went away meanwhile
            log.info("lifecycle pass over %s stopped: %s", bucket.name, exc)
        for name in ("expired", "noncurrent", "markers", "aborted", "kept_locked"):
            setattr(total, name, getattr(total, name) + getattr(one.counts, name))
        await anyio.sleep(PAUSE)
    return total
