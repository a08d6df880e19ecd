"""The storage seam: what the S3 protocol layer may ask of a store.

Nothing here knows HTTP, XML or S3 error codes. Keys are `str` (valid UTF-8
text, any characters); buckets are already-validated names. Every call is async;
implementations keep blocking I/O off the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

# --- values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """Everything about an object that the client chose, stored verbatim.

    `headers` holds the standard representation headers that round-trip
    (content-type, content-encoding, content-disposition, content-language,
    cache-control, expires), keyed in lower case. `user` holds x-amz-meta-*
    entries without the prefix, keys in lower case. `checksums` maps an
    algorithm name (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) to its base64 value
    as S3 returns it (for multipart composites, with the "-N" suffix).
    `checksum_type` is "FULL_OBJECT" or "COMPOSITE" when checksums is not empty.
    `extra` is a free slot for protocol-level attributes (ACLs and the like)
    that storage keeps but never interprets.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    user: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    checksums: Mapping[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 sends it: '"<hex>"' or '"<hex>-N"'
    last_modified: float  # seconds since the epoch (UTC), sub-second precision kept
    meta: ObjectMeta
    # Sizes of the parts the object was assembled from; (size,) for a single PUT.
    part_sizes: tuple[int, ...] = ()
    # Per-part checksums for multipart objects, aligned with part_sizes.
    part_checksums: tuple[Mapping[str, str], ...] = ()
    # "null" or an opaque id; None while the bucket has never had versioning enabled.
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class BucketInfo:
    name: str
    created: float
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)
    versioning: str = ""  # "", "Enabled" or "Suspended" (never back to "")


@dataclass(frozen=True, slots=True)
class ListEntry:
    key: str
    size: int
    etag: str
    last_modified: float
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str | None = None
    extra: Mapping[str, str] | None = None  # meta.extra, only when the listing asked for it (with_extra)


@dataclass(frozen=True, slots=True)
class ListPage:
    entries: list[ListEntry]
    common_prefixes: list[str]
    is_truncated: bool
    # The last key or common prefix this page covered; resume after it.
    next_marker: str | None


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One row of ListObjectVersions: a version (marker False) or a delete marker."""

    key: str
    version_id: str
    is_latest: bool
    marker: bool
    size: int
    etag: str
    last_modified: float
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str | None = None
    extra: Mapping[str, str] | None = None  # meta.extra, only when the listing asked for it (with_extra)


@dataclass(frozen=True, slots=True)
class VersionPage:
    entries: list[VersionEntry]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    """What one delete did: the version removed or the marker added (version_id None when
    the bucket is unversioned), and whether that version is a delete marker."""

    key: str
    version_id: str | None
    delete_marker: bool
    kept: bool = False  # the guard refused to remove this version (delete_versions)


@dataclass(frozen=True, slots=True)
class UploadInfo:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    meta: ObjectMeta  # as given to create_upload (checksums: algorithm → "" when declared)


@dataclass(frozen=True, slots=True)
class UploadPage:
    uploads: list[UploadInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(frozen=True, slots=True)
class PartInfo:
    part_number: int
    size: int
    etag: str  # quoted
    last_modified: float
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartPage:
    parts: list[PartInfo]
    is_truncated: bool
    next_part_number_marker: int | None


@dataclass(frozen=True, slots=True)
class CompletedUpload:
    """What a successful CompleteMultipartUpload answered, kept for a while so a retry gets it again."""

    bucket: str
    key: str
    upload_id: str
    parts: tuple[tuple[int, str], ...]  # (part number, quoted ETag) as completed
    etag: str
    checksums: Mapping[str, str]
    checksum_type: str | None
    completed: float
    version_id: str | None = None  # as answered: None when the bucket was never versioned


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """A conditional write, checked atomically with the commit.

    if_none_match_star: fail when the key exists.
    if_match: fail unless the current object has this (quoted) ETag.
    """

    if_none_match_star: bool = False
    if_match: str | None = None  # a quoted ETag, or "*": the key must exist
    if_none_match: str | None = None  # a quoted ETag the current object must not have


# --- errors -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketUsage:
    objects: int
    bytes: int
    multipart_uploads: int


class StorageError(Exception):
    """Base of every error a store raises on purpose."""


class NoSuchBucket(StorageError):
    pass


class BucketChanged(StorageError):
    """A commit that named the bucket configuration it was decided on (ObjectWriter.commit's
    `bucket_extra`) found another: nothing was committed."""


class BucketAlreadyExists(StorageError):
    pass


class BucketNotEmpty(StorageError):
    pass


class NoSuchKey(StorageError):
    pass


class NoSuchUpload(StorageError):
    pass


class NoSuchVersion(StorageError):
    def __init__(self, key: str, version_id: str) -> None:
        super().__init__(f"{key!r} has no version {version_id!r}")
        self.key = key
        self.version_id = version_id


class DeleteMarkerHit(StorageError):
    """The version asked for is a delete marker: the current one (by_version False: S3 404)
    or one named by id (S3 405)."""

    def __init__(self, key: str, version_id: str, *, by_version: bool) -> None:
        super().__init__(f"{key!r} version {version_id!r} is a delete marker")
        self.key = key
        self.version_id = version_id
        self.by_version = by_version


class BadVersioningState(StorageError):
    """Versioning can be Enabled or Suspended, never turned off again."""


class InvalidPart(StorageError):
    def __init__(self, part_number: int, reason: str = "") -> None:
        super().__init__(f"part {part_number}: {reason}")
        self.part_number = part_number


class PreconditionFailed(StorageError):
    """A WriteCondition did not hold at commit time."""


class ConditionalConflict(StorageError):
    """A concurrent conditional write on the same key won the race (S3: 409)."""


class BadRange(StorageError):
    pass


class IntegrityError(StorageError):
    """An encrypted body failed authentication on read (tampering, corruption): never served."""


class MetadataUnavailable(StorageError):
    """The metadata database cannot be reached (an outage, a full pool): worth a retry later."""


# --- the interface ----------------------------------------------------------


class BodyCipher(Protocol):
    """Seals body files at rest in independently authenticated chunks (smarts3.sse implements it).

    A sealed body file is `header_size` bytes of header, then one sealed chunk per `chunk_size`
    plaintext bytes, each `tag_size` bytes longer than its plaintext. The last chunk (possibly
    empty) is sealed as last, so a truncated file is detected. Storage does the framing; the
    cipher holds the keys. Sizes recorded for objects and parts stay plaintext sizes.
    """

    chunk_size: int
    header_size: int
    tag_size: int

    def new_header(self, part_number: int) -> bytes:
        """A fresh header (random nonce prefix) for one body file."""
        ...

    def seal(self, header: bytes, index: int, data: bytes | memoryview, last: bool) -> bytes: ...

    def open(self, header: bytes, index: int, data: bytes | memoryview, last: bool) -> bytes:
        """The plaintext of a sealed chunk; raises IntegrityError."""
        ...

    def check_headers(self, headers: Sequence[bytes]) -> None:
        """The headers of an object's body files, in order (raises IntegrityError)."""
        ...

    def etag(self, md5: bytes) -> str:
        """The unquoted ETag of a body whose plaintext has this MD5."""
        ...


class BodyWriter(Protocol):
    """A body being written. Nothing is visible until a commit method succeeds.

    Leaving the `async with` block without committing (an exception, a
    cancellation, a client disconnect) removes every trace of the write.
    """

    async def write(self, data: bytes) -> None: ...

    async def flush(self) -> None:
        """Wait until everything written so far has reached the store (errors raise here)."""
        ...

    @property
    def size(self) -> int: ...

    @property
    def md5(self) -> bytes:
        """Raw MD5 digest of everything written so far (16 bytes); call after flush()."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ObjectWriter(BodyWriter, Protocol):
    async def commit(
        self,
        meta: ObjectMeta,
        condition: WriteCondition | None = None,
        *,
        bucket_extra: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Make the object visible atomically (raises PreconditionFailed). With `bucket_extra`,
        only if the bucket's BucketInfo.extra, read in the commit's own transaction, is still
        exactly that (else BucketChanged, and nothing is committed)."""
        ...


class PartWriter(BodyWriter, Protocol):
    async def commit(self, checksums: Mapping[str, str]) -> PartInfo:
        """Store the part (replacing an earlier part with the same number)."""
        ...


class ObjectReader(Protocol):
    """An opened object: its info is consistent with the bytes it yields."""

    info: ObjectInfo

    def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Yield bytes [start, end) in bounded chunks."""
        ...

    async def close(self) -> None:
        """Release what the reader holds; completes even inside a cancelled scope."""
        ...


class Store(Protocol):
    # buckets
    async def create_bucket(self, name: str, region: str) -> BucketInfo: ...
    async def get_bucket(self, name: str) -> BucketInfo: ...
    async def list_buckets(self) -> list[BucketInfo]: ...
    async def delete_bucket(self, name: str) -> None:
        """Raises BucketNotEmpty when objects remain; uploads in progress are aborted with the bucket."""
        ...

    async def set_bucket_tags(self, name: str, tags: Mapping[str, str]) -> None: ...
    async def update_bucket_extra(self, name: str, changes: Mapping[str, str | None]) -> None:
        """Set each key to its value (None removes it), in one transaction: no lost updates."""
        ...

    # objects
    def object_writer(
        self, bucket: str, key: str, cipher: BodyCipher | None = None, *, bucket_checked: bool = False
    ) -> ObjectWriter:
        """Raises NoSuchBucket on enter when the bucket does not exist; `cipher` seals the body.
        `bucket_checked`: the caller has just read the bucket, so enter skips that read (the
        commit still raises NoSuchBucket if the bucket went away meanwhile)."""
        ...

    async def head_object(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        """The current version, or the one named (NoSuchVersion; DeleteMarkerHit for a marker)."""
        ...

    async def open_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        cipher_for: Callable[[ObjectInfo], BodyCipher | None] | None = None,
    ) -> ObjectReader:
        """`cipher_for(info)` (its errors propagate) names the cipher a sealed body opens with."""
        ...

    async def delete_object(self, bucket: str, key: str) -> bool:
        """True when something was deleted; deleting a missing key is not an error."""
        ...

    async def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[bool]: ...
    async def delete_versions(
        self,
        bucket: str,
        items: Sequence[tuple[str, str | None]],
        *,
        keep: Callable[[ObjectInfo], bool] | None = None,
    ) -> list[DeleteOutcome]:
        """Delete each (key, version id or None) as S3 does for the bucket's versioning state.

        `keep(version)`, asked inside the transaction before a version (not a delete marker)
        is removed for good, may refuse it (DeleteOutcome.kept): object lock's retention rules
        live above storage, and are decided on the row as it is at commit time.

        Without a version id: remove the object (unversioned), or add a delete marker
        (Enabled; Suspended: a "null" one replacing the null version). With one: remove that
        version for good; when it was current, the next newest becomes current. A version
        that does not exist is no error.
        """
        ...

    async def set_bucket_versioning(self, name: str, status: str) -> None:
        """"Enabled" or "Suspended" (BadVersioningState for anything else)."""
        ...

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
        """Versions and delete markers by key (UTF-8 byte order), newest first within a key.
        `with_extra`: each entry carries its meta.extra (a JSON decode per entry, so only on request)."""
        ...

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
        """Copy the body (of the current version, or of `src_version_id`); `meta` is the destination's full metadata.

        `src_etag`, when given, must still be the source's ETag (else
        PreconditionFailed), so copy-source conditions cannot race.
        """
        ...

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
        """Replace the tags and/or change `extra` keys (None removes) of the current object
        (or of the version named). `check(before)` runs in the transaction and may raise.

        Applied to the metadata inside the write transaction, so a concurrent overwrite
        or another update is never undone. Body, ETag and Last-Modified stay.
        """
        ...

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
        with_extra: bool = False,  # as list_object_versions
    ) -> ListPage: ...

    # multipart
    async def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> UploadInfo: ...
    async def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo: ...
    def part_writer(
        self, bucket: str, key: str, upload_id: str, part_number: int, cipher: BodyCipher | None = None
    ) -> PartWriter: ...

    async def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> PartPage: ...

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
        """Assemble the listed (part number, quoted ETag) parts into the object.

        Raises InvalidPart when a part is missing or its ETag differs. The
        caller has already checked order and sizes and computed `etag` and
        the final checksums in `meta`.
        """
        ...

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None: ...
    async def completed_upload(self, bucket: str, key: str, upload_id: str) -> CompletedUpload | None:
        """The record of an upload completed recently (see forget_completed), else None."""
        ...

    async def forget_completed(self, before: float) -> int:
        """Drop the records of uploads completed before `before` (epoch seconds); returns how many."""
        ...

    async def list_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadPage: ...

    async def close(self) -> None: ...
