"""The credential set the server follows: root plus declared credentials with grants.

It is also the CredentialStore the signature verifier reads, so one atomic
swap changes who can sign and what they may do together.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from smarts3.access.actions import LEVELS, Action


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
        self._by_key: Mapping[str, Principal] = MappingProxyType({p.access_key: p for p in principals})

    def secret_for(self, access_key: str) -> str | None:
        principal = self._by_key.get(access_key)
        return principal.secret if principal else None

    def get(self, access_key: str | None) -> Principal | None:
        return self._by_key.get(access_key) if access_key else None

    def all(self) -> list[Principal]:
        return list(self._by_key.values())

    def replace(self, principals: Iterable[Principal]) -> None:
        snapshot = MappingProxyType({p.access_key: p for p in principals})
        with self._lock:
            self._by_key = snapshot

    def __len__(self) -> int:
        return len(self._by_key)
