"""The credential set the server follows: root plus declared credentials with grants.

It is also the CredentialStore the signature verifier reads, so one atomic
swap changes who can sign and what they may do together.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from smarts3.access.actions import LEVELS, Action

# Canonical user ids: 64 hex digits as AWS's, derived from the credential's *name* so they survive
# key rotation (bucket ownership and ACL grants are recorded by id). Root has a name of its own
# that no declared credential can take (declared names never contain a NUL).
_NAMESPACE = b"smarts3 canonical user id\0"
ROOT_NAME = "\0root"
# What AWS records as the owner of an object an anonymous request wrote.
ANONYMOUS_ID = "65a011a29cdf8ec533ec3d1ccaae921c"


@functools.cache
def canonical_id(name: str) -> str:
    return hashlib.sha256(_NAMESPACE + name.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Grant:
    pattern: str  # bucket name or glob
    actions: frozenset[Action]

    def covers(self, bucket: str) -> bool:
        return fnmatch.fnmatchcase(bucket, self.pattern)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    access_key: str
    secret: str
    root: bool = False
    grants: tuple[Grant, ...] = ()
    create_buckets: bool = False  # may create buckets it will own (declared `createBuckets`)
    email: str | None = None  # lets ACL grants name it by email address
    identity: str | None = None  # who it acts as (declared `identity`); default: its name

    @property
    def id(self) -> str:
        return canonical_id(ROOT_NAME if self.root else self.identity or self.name)

    def may(self, action: Action, bucket: str | None) -> bool:
        if self.root:
            return True
        if bucket is None:
            return action is Action.SERVICE
        return any(action in g.actions and g.covers(bucket) for g in self.grants)

    def reaches(self, bucket: str) -> bool:
        return self.root or any(g.covers(bucket) for g in self.grants)


def grant(pattern: str, access: str) -> Grant:
    return Grant(pattern, LEVELS[access])


class Principals:
    """Access key → Principal; readers see one immutable snapshot, `replace` swaps it."""

    def __init__(self, principals: Iterable[Principal] = ()) -> None:
        self._lock = threading.Lock()
        self._snapshot = _Snapshot.of(principals)

    def secret_for(self, access_key: str) -> str | None:
        principal = self._snapshot.by_key.get(access_key)
        return principal.secret if principal else None

    def get(self, access_key: str | None) -> Principal | None:
        return self._snapshot.by_key.get(access_key) if access_key else None

    def all(self) -> list[Principal]:
        return list(self._snapshot.by_key.values())

    def ids_by_key(self) -> Mapping[str, str]:
        """Access key → canonical id (legacy owner records name an access key)."""
        return self._snapshot.ids

    def known_id(self, canonical: str) -> bool:
        return canonical in self._snapshot.known

    def id_for_email(self, email: str) -> str | None:
        wanted = email.strip().lower()
        return next((p.id for p in self._snapshot.by_key.values() if p.email and p.email.lower() == wanted), None)

    def replace(self, principals: Iterable[Principal]) -> None:
        snapshot = _Snapshot.of(principals)
        with self._lock:
            self._snapshot = snapshot

    def __len__(self) -> int:
        return len(self._snapshot.by_key)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_key: Mapping[str, Principal]
    ids: Mapping[str, str]
    known: frozenset[str]

    @classmethod
    def of(cls, principals: Iterable[Principal]) -> _Snapshot:
        by_key = MappingProxyType({p.access_key: p for p in principals})
        ids = MappingProxyType({k: p.id for k, p in by_key.items()})
        return cls(by_key, ids, frozenset(ids.values()))
