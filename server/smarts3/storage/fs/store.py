"""FilesystemStore: the Store interface over SQLite metadata and body files.

Every method is a thin async shell: it hands one blocking function (from
objects, multipart, listing, buckets, reader) to a worker thread, so each
operation costs one thread hop for its database work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar, cast

import anyio.to_thread

from smarts3.storage import base
from smarts3.storage.base import (
    BodyCipher,
    BucketInfo,
    DeleteOutcome,
    ListPage,
    ObjectInfo,
    ObjectMeta,
    PartPage,
    UploadInfo,
    UploadPage,
    VersionPage,
    WriteCondition,
)
from smarts3.storage.fs import buckets, completed, listing, multipart, objects, versions
from smarts3.storage.fs.env import make_env
from smarts3.storage.fs.inline import INLINE_MAX_BYTES, clamp_inline_max
from smarts3.storage.fs.layout import Layout
from smarts3.storage.fs.multipart import FsPartWriter
from smarts3.storage.fs.objects import FsObjectWriter
from smarts3.storage.fs.reader import FsObjectReader, open_sync
from smarts3.storage.fs.rerun import rerunning
from smarts3.storage.fs.rows import enc_key

T = TypeVar("T")
L = TypeVar("L")


class FilesystemStore:
    """A durable store in `data_dir` (see layout.py for what lives where).

    Constructing it does no I/O; the layout and schema are created on first
    use. Call `recover(data_dir)` once before any process opens a store.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        fsync: bool = True,
        inline_max: int = INLINE_MAX_BYTES,
        metadata: str = "",
        replica: str = "",
        metadata_pool_size: int = 16,
    ) -> None:
        """`metadata`: "" for SQLite in the data directory, or a postgresql:// URL (pg.py); then
        `replica` names this process's temp directory, as replicas share the data directory."""
        self.data_dir = Path(data_dir)
        self.fsync = fsync
        self.metadata = metadata
        layout = Layout(self.data_dir, replica if metadata else "")
        self._env = make_env(layout, fsync=fsync, inline_max=clamp_inline_max(inline_max), metadata=metadata,
                             pool_size=metadata_pool_size)
        self._loop_reads = self._env.reads_on_loop

    @classmethod
    async def open(cls, data_dir: Path, *, fsync: bool = True, inline_max: int = INLINE_MAX_BYTES) -> FilesystemStore:
        """Construct and touch the database, so misconfiguration fails early."""
        store = cls(data_dir, fsync=fsync, inline_max=inline_max)
        await store._run(buckets.list_sync)
        return store

    def sweep_lock(self, fallback: L) -> L:
        """The lock that elects the one sweeping replica: `fallback` (a file lock) on SQLite, where
        all workers share one host; a PostgreSQL advisory lock when replicas share the database."""
        if not self.metadata:
            return fallback
        from smarts3.storage.fs.pg import PgSweepLock
        from smarts3.storage.fs.pgschema import MULTIPART_LOCK

        return cast(L, PgSweepLock(self.metadata, MULTIPART_LOCK))

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._env.close)

    async def settle(self) -> None:
        """Wait until replaced and deleted bodies are unlinked (tests, benchmarks)."""
        await anyio.to_thread.run_sync(self._env.reaper.drain)

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(env, ...)` in a worker thread; run again there if its PostgreSQL connection died
        before it committed anything (rerun.py)."""
        return await anyio.to_thread.run_sync(partial(rerunning, partial(fn, self._env, *args, **kwargs)))

    def _inline(self, fn: Callable[..., T], *args: object) -> T:
        """Point reads of metadata (and of bodies up to reader.SMALL_BYTES) on the loop itself.

        A SQLite point read from a warm WAL database takes tens of microseconds; a hop to a
        worker thread and back costs 80-150 us here and dominated small GET/HEAD latency.
        Anything that fsyncs, writes, or reads a large body still runs in a thread.
        """
        return fn(self._env, *args)

    # --- buckets ----------------------------------------------------------

    def usage(self) -> dict[str, base.BucketUsage]:
        """Per-bucket figures for /_metrics: counters every write keeps, one small table read
        whatever the object count. Blocking: the metrics endpoint calls it in a thread."""
        return buckets.usage_sync(self._env)

    async def create_bucket(self, name: str, region: str) -> BucketInfo:
        return await self._run(buckets.create_sync, name, region)

    async def get_bucket(self, name: str) -> BucketInfo:
        if self._loop_reads:
            return self._inline(buckets.get_sync, name)
        return await self._run(buckets.get_sync, name)

    async def list_buckets(self) -> list[BucketInfo]:
        return await self._run(buckets.list_sync)

    async def delete_bucket(self, name: str) -> None:
        await self._run(buckets.delete_sync, name)

    async def set_bucket_tags(self, name: str, tags: Mapping[str, str]) -> None:
        await self._run(buckets.set_tags_sync, name, tags)

    async def update_bucket_extra(self, name: str, changes: Mapping[str, str | None]) -> None:
        await self._run(buckets.patch_extra_sync, name, dict(changes))

    # --- objects ----------------------------------------------------------

    def object_writer(
        self, bucket: str, key: str, cipher: BodyCipher | None = None, *, bucket_checked: bool = False
    ) -> FsObjectWriter:
        return FsObjectWriter(self._env, bucket, key, cipher, bucket_checked=bucket_checked)

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        if self._loop_reads:
            return self._inline(objects.head_sync, bucket, enc_key(key), version_id)
        return await self._run(objects.head_sync, bucket, enc_key(key), version_id)

    async def open_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        cipher_for: Callable[[ObjectInfo], BodyCipher | None] | None = None,
    ) -> FsObjectReader:
        if self._loop_reads:
            return self._inline(open_sync, bucket, enc_key(key), version_id, cipher_for)
        return await self._run(open_sync, bucket, enc_key(key), version_id, cipher_for)

    async def delete_versions(
        self,
        bucket: str,
        items: Sequence[tuple[str, str | None]],
        *,
        keep: Callable[[ObjectInfo], bool] | None = None,
    ) -> list[DeleteOutcome]:
        return await objects.delete_versions(self._env, bucket, list(items), keep)

    async def set_bucket_versioning(self, name: str, status: str) -> None:
        await self._run(buckets.set_versioning_sync, name, status)

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = 1000,
        with_extra: bool = False,
    ) -> VersionPage:
        return await self._run(
            versions.list_versions_sync, bucket, prefix, delimiter, key_marker, version_id_marker, max_keys, with_extra
        )

    async def delete_object(self, bucket: str, key: str) -> bool:
        return (await self._run(objects.delete_many_sync, bucket, [key]))[0]

    async def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[bool]:
        return await self._run(objects.delete_many_sync, bucket, list(keys))

    async def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        meta: ObjectMeta,
        *,
        src_etag: str | None = None,
        condition: WriteCondition | None = None,
        src_version_id: str | None = None,
    ) -> ObjectInfo:
        return await self._run(
            objects.copy_sync,
            (src_bucket, enc_key(src_key)),
            (dst_bucket, enc_key(dst_key)),
            meta,
            src_etag=src_etag,
            condition=condition,
            src_version_id=src_version_id,
        )

    async def update_object_meta(
        self,
        bucket: str,
        key: str,
        *,
        tags: Mapping[str, str] | None = None,
        extra: Mapping[str, str | None] | None = None,
        version_id: str | None = None,
        check: Callable[[ObjectInfo], None] | None = None,
    ) -> ObjectInfo:
        return await self._run(
            objects.patch_meta_sync,
            bucket,
            enc_key(key),
            None if tags is None else dict(tags),
            dict(extra or {}),
            version_id,
            check,
        )

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
        with_extra: bool = False,
    ) -> ListPage:
        return await self._run(
            listing.list_objects_sync, bucket, prefix, delimiter, start_after, max_keys, with_extra
        )

    # --- multipart --------------------------------------------------------

    async def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> UploadInfo:
        return await self._run(multipart.create_upload_sync, bucket, key, meta)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        return await self._run(multipart.get_upload_sync, bucket, key, upload_id)

    def part_writer(
        self, bucket: str, key: str, upload_id: str, part_number: int, cipher: BodyCipher | None = None
    ) -> FsPartWriter:
        return FsPartWriter(self._env, (bucket, key, upload_id), part_number, cipher)

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> PartPage:
        return await self._run(multipart.list_parts_sync, (bucket, key, upload_id), part_number_marker, max_parts)

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        etag: str,
        meta: ObjectMeta,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        return await self._run(
            multipart.complete_sync,
            (bucket, key, upload_id),
            list(parts),
            etag=etag,
            meta=meta,
            condition=condition,
        )

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self._run(multipart.abort_sync, (bucket, key, upload_id))

    async def completed_upload(self, bucket: str, key: str, upload_id: str) -> base.CompletedUpload | None:
        return await self._run(completed.get_sync, bucket, key, upload_id)

    async def forget_completed(self, before: float) -> int:
        return await self._run(completed.forget_sync, before)

    async def list_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadPage:
        return await self._run(
            listing.list_uploads_sync,
            bucket,
            prefix,
            delimiter,
            key_marker,
            upload_id_marker,
            max_uploads,
        )


def _conforms(store: FilesystemStore) -> base.Store:
    return store  # mypy checks FilesystemStore against the Store protocol here
