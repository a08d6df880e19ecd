"""Follow the declared configuration file: credentials, grants and buckets, live.

The file is polled (stat through symlinks plus a content hash), which also sees
the atomic symlink swap Kubernetes does when it updates a mounted Secret. A
file that fails to parse or validate is rejected whole: the last good
configuration stays in force and the error is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
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
from smarts3.storage.base import BucketAlreadyExists, BucketNotEmpty, NoSuchBucket, Store

log = logging.getLogger("smarts3.declared")

# Marks in a bucket's `extra`: declared by the file, and deletable when dropped from it.
DECLARED_KEY = "declared"
DELETE_KEY = "declared-delete"
# Marks: the bucket's policy / public access block came from the file (removed when the file drops it).
POLICY_DECLARED_KEY = "declared-policy"
PAB_DECLARED_KEY = "declared-public-access-block"


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
    ) -> None:
        self.state = DeclaredState(path, optional)
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
        """Apply the file if it changed; True when a new configuration took effect."""
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
        self.principals.replace(principals_for(config, secrets, self.root))
        self.state.public = frozenset(b.name for b in config.buckets if b.public_read)
        self._cors = {b.name: cors.from_declared(b.cors) for b in config.buckets if b.cors}  # CORS
        await self._apply_buckets(config)
        self.state.fingerprint = fingerprint
        self.state.loaded = True
        self.state.error = None
        log.info(
            "declared configuration applied: %d bucket(s), %d credential(s)",
            len(config.buckets),
            len(config.credentials),
        )
        return True

    def _reject(self, reason: str) -> bool:
        self.state.error = reason
        log.error("declared configuration rejected, keeping the last good one: %s", reason)
        return False

    async def _apply_buckets(self, config: DeclaredConfig) -> None:
        wanted = {b.name: b for b in config.buckets}
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
                log.info("deleted bucket %s: dropped from the declared file with deletionPolicy Delete", info.name)
            except BucketNotEmpty:
                log.warning("bucket %s was dropped with deletionPolicy Delete but is not empty: kept", info.name)
            except NoSuchBucket:
                pass

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await anyio.sleep(interval)
            try:
                await self.reload()
            except Exception:  # a store hiccup must not end the watcher
                log.exception("declared configuration reload failed")
