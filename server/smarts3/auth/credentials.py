"""Credential stores."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

from smarts3.auth.types import CredentialStore


class StaticCredentials(CredentialStore):
    """Access key → secret from a mapping; `replace` swaps the whole set at once.

    Readers take no lock: they read one immutable snapshot, and `replace`
    publishes a new one with a single reference assignment.
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._keys: Mapping[str, str] = _snapshot(mapping or {})

    def secret_for(self, access_key: str) -> str | None:
        return self._keys.get(access_key)

    def replace(self, mapping: Mapping[str, str]) -> None:
        snapshot = _snapshot(mapping)
        with self._lock:  # serializes writers; readers see old or new, never a mix
            self._keys = snapshot

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, access_key: object) -> bool:
        return access_key in self._keys


def _snapshot(mapping: Mapping[str, str]) -> Mapping[str, str]:
    for key, secret in mapping.items():
        if not key or not secret:
            raise ValueError("access keys and secrets must be non-empty")
    return MappingProxyType(dict(mapping))
