"""Follow the declared configuration file: credentials, grants and buckets, live.

The file is polled (stat through symlinks plus a content hash), which also sees
the atomic symlink swap Kubernetes does when it updates a mounted Secret. A
file that fails to parse or validate is rejected whole: the last good
configuration stays in force and the error is logged.

A second source, the configuration the operator pushed (declared_push.py), is kept in
the data directory; each configuration carries a generation, and the server applies
whichever source is newest, never going back to a lower generation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import yaml
from pydantic import ValidationError

from smarts3 import cors  # CORS
from smarts3.access import pab
from smarts3.access.authorize import POLICY_KEY
from smarts3.access.principals import Principal, Principals, grant
from smarts3.config.checks import policy_problems
from smarts3.config.declared import DeclaredBucket, DeclaredConfig, DeletionPolicy
from smarts3.lifecycle.execute import locked
from smarts3.s3.handlers.objectlock import HOLD, MODE
from smarts3.storage.base import (
    BucketAlreadyExists,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchVersion,
    ObjectInfo,
    Store,
    VersionEntry,
)

log = logging.getLogger("smarts3.declared")

# Marks in a bucket's `extra`: declared by the file, and deletable when dropped from it.
DECLARED_KEY = "declared"
DELETE_KEY = "declared-delete"
# Marks: the bucket's policy / public access block came from the file (removed when the file drops it).
POLICY_DECLARED_KEY = "declared-policy"
PAB_DECLARED_KEY = "declared-public-access-block"

# Per-bucket outcomes of an apply, as GET /_declared/status reports them.
PRESENT = "Present"
DELETED = "Deleted"
NOT_EMPTY = "BucketNotEmpty"
OBJECT_LOCKED = "ObjectLocked"  # a forced deletion kept back by COMPLIANCE retention or legal hold

# A forced deletion kept back by Object Lock walks the bucket again this often (not every
# tick: the walk costs a transaction per page of locked versions).
LOCKED_RETRY_SECONDS = 5.0


class DeclaredError(Exception):
    pass


@dataclass(slots=True)
class DeclaredState:
    path: Path | None
    optional: bool = False  # an absent file means "nothing declared yet", not an error
    loaded: bool = False
    error: str | None = None
    public: frozenset[str] = field(default_factory=frozenset)
    fingerprint: bytes = b""
    generation: int = 0  # of the configuration in force
    pushed_fingerprint: bytes = b""
    # Bucket name -> what the last apply did with it (reported to the operator).
    outcomes: dict[str, str] = field(default_factory=dict)


class StaleGeneration(DeclaredError):
    """A configuration older than the one in force."""


def parse(text: str, base: Path) -> tuple[DeclaredConfig, dict[str, str]]:
    """Validate the file; returns the model and each credential's secret."""
    try:
        data = yaml.safe_load(text) or {}
        config = DeclaredConfig.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise DeclaredError(str(exc)) from None
    problems = policy_problems(config)
    if problems:
        raise DeclaredError("; ".join(problems))
    secrets: dict[str, str] = {}
    for cred in config.credentials:
        if cred.secret_access_key is not None:
            secrets[cred.access_key_id] = cred.secret_access_key.get_secret_value()
            continue
        assert cred.secret_access_key_file is not None
        path = cred.secret_access_key_file
        path = path if path.is_absolute() else base / path
        try:
            secrets[cred.access_key_id] = path.read_text().strip()
        except OSError as exc:
            raise DeclaredError(f"credential {cred.name}: cannot read secretAccessKeyFile: {exc}") from None
        if not secrets[cred.access_key_id]:
            raise DeclaredError(f"credential {cred.name}: secretAccessKeyFile is empty")
    return config, secrets


def policy_text(bucket: DeclaredBucket) -> str:
    return json.dumps(bucket.policy, separators=(",", ":"))


def _declared_access(bucket: DeclaredBucket, extra: Mapping[str, str]) -> dict[str, str | None]:
    """The policy and public access block the file gives a bucket; what it no longer gives is removed."""
    changes: dict[str, str | None] = {}
    if bucket.policy is not None:
        changes.update({POLICY_KEY: policy_text(bucket), POLICY_DECLARED_KEY: "1"})
    elif extra.get(POLICY_DECLARED_KEY):
        changes.update({POLICY_KEY: None, POLICY_DECLARED_KEY: None})
    if bucket.public_access_block is not None:
        block = pab.Block(**bucket.public_access_block.model_dump(by_alias=False))
        changes.update({pab.PAB_KEY: pab.dumps(block), PAB_DECLARED_KEY: "1"})
    elif extra.get(PAB_DECLARED_KEY):
        changes.update({pab.PAB_KEY: None, PAB_DECLARED_KEY: None})
    return changes


def principals_for(config: DeclaredConfig, secrets: dict[str, str], root: Principal) -> list[Principal]:
    declared = [
        Principal(
            c.name,
            c.access_key_id,
            secrets[c.access_key_id],
            grants=tuple(grant(g.bucket, g.access.value) for g in c.grants),
            create_buckets=c.create_buckets,
            email=c.email,
            identity=c.identity,
        )
        for c in config.credentials
        if c.access_key_id != root.access_key
    ]
    return [root, *declared]


class DeclaredSync:
    def __init__(
        self,
        path: Path | None,
        store: Store,
        principals: Principals,
        root: Principal,
        region: str,
        *,
        optional: bool = False,
        pushed: Path | None = None,
    ) -> None:
        self.state = DeclaredState(path, optional)
        self.pushed = pushed  # where a pushed configuration is kept (None: pushes are off)
        self._apply_lock = anyio.Lock()
        # Deletions kept back by objects, retried every tick: name -> force (empty it first).
        self._waiting: dict[str, bool] = {}
        self._locked_retry: dict[str, float] = {}  # forced deletions Object Lock kept: monotonic time of next try
        self.store = store
        self.principals = principals
        self.root = root
        self.region = region
        self._cors: dict[str, cors.Rules] = {}  # CORS: declared rules per bucket

    def public(self) -> frozenset[str]:
        return self.state.public

    def cors_for(self, bucket: str) -> cors.Rules:  # CORS
        return self._cors.get(bucket, ())

    async def reload(self) -> bool:
        """Apply the newest changed source; True when a new configuration took effect."""
        pushed = await self._reload_pushed()
        return await self._reload_file() or pushed

    async def _reload_pushed(self) -> bool:
        """The pushed configuration kept in the data directory: at start-up, or written by
        another worker process."""
        if self.pushed is None:
            return False
        try:
            text = await anyio.to_thread.run_sync(self.pushed.read_text)
        except FileNotFoundError:
            return False
        fingerprint = hashlib.sha256(text.encode()).digest()
        if fingerprint == self.state.pushed_fingerprint:
            return False
        self.state.pushed_fingerprint = fingerprint
        try:
            return await self.apply_text(text, base=self.pushed.parent, origin=str(self.pushed))
        except StaleGeneration:
            return False
        except DeclaredError as exc:
            return self._reject(str(exc))

    async def apply_text(
        self,
        text: str,
        *,
        base: Path,
        origin: str,
        before_apply: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Validate and apply a configuration exactly as the file would be.

        Raises DeclaredError when invalid and StaleGeneration when older than the one in
        force (an equal generation is applied again: applying is idempotent). ``before_apply``
        runs once it is known to be taken (the push keeps it first).
        """
        config, secrets = await anyio.to_thread.run_sync(parse, text, base)
        async with self._apply_lock:
            if config.generation < self.state.generation:
                raise StaleGeneration(
                    f"{origin}: generation {config.generation} is older than {self.state.generation}, in force"
                )
            if before_apply is not None:
                await before_apply()
            await self._apply(config, secrets)
        return True

    async def _reload_file(self) -> bool:
        path = self.state.path
        if path is None:
            self.state.loaded = True
            return False
        try:
            text = await anyio.to_thread.run_sync(path.read_text)
        except FileNotFoundError as exc:
            if not self.state.optional:
                return self._reject(f"cannot read {path}: {exc}")
            # Not written yet (or gone): whatever was last applied stays; at start-up that is nothing.
            if not self.state.loaded:
                log.info("declared configuration %s is not there yet: nothing declared", path)
                self.state.loaded = True
            return False
        except OSError as exc:
            return self._reject(f"cannot read {path}: {exc}")
        fingerprint = hashlib.sha256(text.encode()).digest()
        if fingerprint == self.state.fingerprint:
            return False
        try:
            config, secrets = await anyio.to_thread.run_sync(parse, text, path.parent)
        except DeclaredError as exc:
            self.state.fingerprint = fingerprint  # do not log the same bad file every second
            return self._reject(str(exc))
        self.state.fingerprint = fingerprint
        async with self._apply_lock:
            if config.generation < self.state.generation:
                # The kubelet syncs the mounted file long after the operator pushed a newer one.
                log.info("declared file %s: generation %d is older than the one in force", path, config.generation)
                return False
            await self._apply(config, secrets)
        return True

    async def _apply(self, config: DeclaredConfig, secrets: dict[str, str]) -> None:
        self.principals.replace(principals_for(config, secrets, self.root))
        self.state.public = frozenset(b.name for b in config.buckets if b.public_read)
        self._cors = {b.name: cors.from_declared(b.cors) for b in config.buckets if b.cors}  # CORS
        await self._apply_buckets(config)
        self.state.generation = config.generation
        self.state.loaded = True
        self.state.error = None
        log.info(
            "declared configuration applied: generation %d, %d bucket(s), %d credential(s)",
            config.generation,
            len(config.buckets),
            len(config.credentials),
        )

    def _reject(self, reason: str) -> bool:
        self.state.error = reason
        log.error("declared configuration rejected, keeping the last good one: %s", reason)
        return False

    async def _apply_buckets(self, config: DeclaredConfig) -> None:
        wanted = {b.name: b for b in config.buckets}
        # A deletion stays reported until the name is declared again.
        outcomes = {name: o for name, o in self.state.outcomes.items() if o == DELETED and name not in wanted}
        outcomes.update(dict.fromkeys(wanted, PRESENT))
        for bucket in config.buckets:
            try:
                info = await self.store.create_bucket(bucket.name, self.region)
            except BucketAlreadyExists:
                info = await self.store.get_bucket(bucket.name)
            changes = {
                DECLARED_KEY: "1",
                DELETE_KEY: "1" if bucket.deletion_policy is DeletionPolicy.DELETE else None,
                **_declared_access(bucket, info.extra),
            }
            if any(info.extra.get(k) != v for k, v in changes.items()):
                await self.store.update_bucket_extra(bucket.name, changes)
        for info in await self.store.list_buckets():
            if info.name in wanted or info.extra.get(DELETE_KEY) != "1":
                continue
            try:
                await self.store.delete_bucket(info.name)
                outcomes[info.name] = DELETED
                log.info("deleted bucket %s: dropped from the declared file with deletionPolicy Delete", info.name)
            except BucketNotEmpty:
                outcomes[info.name] = NOT_EMPTY
                log.warning("bucket %s was dropped with deletionPolicy Delete but is not empty: kept", info.name)
            except NoSuchBucket:
                outcomes[info.name] = DELETED
        self._waiting = {}
        self._locked_retry = {}
        for deletion in config.deletions:
            outcomes[deletion.name] = await self._delete(deletion.name, force=deletion.force)
            if outcomes[deletion.name] in (NOT_EMPTY, OBJECT_LOCKED):
                self._waiting[deletion.name] = deletion.force
        self.state.outcomes = outcomes

    async def _delete(self, name: str, *, force: bool) -> str:
        kept = 0
        try:
            if force:
                kept = await empty_bucket(self.store, name)
            await self.store.delete_bucket(name)
        except NoSuchBucket:
            return DELETED
        except BucketNotEmpty:
            if kept:
                self._locked_retry[name] = time.monotonic() + LOCKED_RETRY_SECONDS
                log.warning(
                    "bucket %s: forceDelete kept %d version(s) under COMPLIANCE retention or legal hold, "
                    "and the bucket with them", name, kept
                )
                return OBJECT_LOCKED
            return NOT_EMPTY
        self._locked_retry.pop(name, None)
        log.info("deleted bucket %s as the declared configuration asks%s", name, " (emptied first)" if force else "")
        return DELETED

    async def retry_deletions(self) -> None:
        """Delete the buckets that were not empty, once someone emptied them (or, forced, once
        Object Lock lets their last versions go)."""
        if not self._waiting:
            return
        async with self._apply_lock:
            now = time.monotonic()
            for name, force in sorted(self._waiting.items()):
                if self._locked_retry.get(name, now) > now:
                    continue
                outcome = await self._delete(name, force=force)
                if outcome not in (NOT_EMPTY, OBJECT_LOCKED):
                    del self._waiting[name]
                if outcome != self.state.outcomes.get(name):
                    self.state.outcomes = {**self.state.outcomes, name: outcome}

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await anyio.sleep(interval)
            try:
                await self.reload()
                await self.retry_deletions()
            except Exception:  # a store hiccup must not end the watcher
                log.exception("declared configuration reload failed")


EMPTY_PAGE = 1000  # versions per listing and per delete transaction
EMPTY_PASSES = 3  # walks of a bucket writers keep filling; then the deletion waits for a later tick


def kept_by_lock(version: ObjectInfo) -> bool:
    """forceDelete acts as an administrator bypassing GOVERNANCE retention: only a legal hold
    or unexpired COMPLIANCE retention keeps a version."""
    if not locked(version, time.time()):
        return False
    extra = version.meta.extra
    return extra.get(HOLD) == "ON" or extra.get(MODE) != "GOVERNANCE"


async def empty_bucket(store: Store, name: str) -> int:
    """Delete every version and delete marker and abort every unfinished upload of a bucket
    (forceDelete); returns how many versions Object Lock kept (see kept_by_lock)."""
    kept = 0
    for _ in range(EMPTY_PASSES):
        uploads = await store.list_uploads(name)
        for upload in uploads.uploads:
            await store.abort_upload(name, upload.key, upload.upload_id)
        kept, seen = await _delete_versions(store, name)
        if seen == kept and not uploads.uploads:  # nothing left but what Object Lock keeps
            break
    return kept


async def _delete_versions(store: Store, name: str) -> tuple[int, int]:
    """One walk over the bucket's versions, each page deleted by version id: (kept, seen)."""
    kept = seen = 0
    # The listing resumes after the last version kept: everything before it is gone, and a
    # marker naming a deleted version is no valid place to resume from.
    resume: VersionEntry | None = None
    while True:
        try:
            page = await store.list_object_versions(
                name,
                key_marker=resume.key if resume else "",
                version_id_marker=resume.version_id if resume else "",
                max_keys=EMPTY_PAGE,
            )
        except NoSuchVersion:  # the kept version went meanwhile (its hold lifted, deleted): walk again
            return kept, seen + 1
        seen += len(page.entries)
        items: list[tuple[str, str | None]] = [(e.key, e.version_id) for e in page.entries]
        outcomes = await store.delete_versions(name, items, keep=kept_by_lock) if items else []
        for entry, outcome in zip(page.entries, outcomes, strict=True):
            if outcome.kept:
                kept += 1
                resume = entry
        if not page.is_truncated:
            return kept, seen
