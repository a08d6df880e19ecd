"""The server's declared-configuration Secret: one Secret aggregating every watched object.

It is recomputed from scratch on every change (list all S3Buckets and S3Credentials,
plan, write if different), so any order of events converges to the same file, and a
deleted or hand-edited Secret is rewritten by the next reconcile or timer tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smarts3.config.declared import DeclaredConfig
from smarts3_operator.reconcile import Context
from smarts3_operator.render import (
    BucketObject,
    CredentialObject,
    KeyPair,
    Plan,
    declared_secret,
    keys_from_declared,
    load_declared,
    plan,
    unb64,
)
from smarts3_operator.specs import BUCKETS, CREDENTIALS, InvalidSpec, parse_bucket, parse_credential

# kopf runs sync handlers in worker threads; the read-plan-write of the one shared
# Secret must not interleave (one operator replica runs at a time: Recreate strategy).
_LOCK = threading.Lock()


@dataclass(slots=True)
class _Last:
    plan: Plan | None = None
    at: float | None = None


_last = _Last()


def last_sync() -> float | None:
    """Monotonic time of the last successful write or check of the declared Secret."""
    return _last.at


def _fresh(max_age: float) -> Plan | None:
    if max_age <= 0 or _last.plan is None or _last.at is None:
        return None
    return _last.plan if time.monotonic() - _last.at < max_age else None


def current(ctx: Context) -> DeclaredConfig:
    s = ctx.settings
    secret = ctx.kube.read_secret(s.config_secret_namespace, s.config_secret_name)
    data = (secret or {}).get("data") or {}
    text = unb64(data[s.config_secret_key]) if s.config_secret_key in data else None
    return load_declared(text)


def current_keys(ctx: Context, namespace: str, name: str, max_age: float = 0.0) -> KeyPair | None:
    """The credential's key pair in the declared configuration (cached up to ``max_age``)."""
    with _LOCK:
        cached = _fresh(max_age)
    config = cached.config if cached is not None else current(ctx)
    return keys_from_declared(config, namespace, name)


def _deleting(item: Mapping[str, Any]) -> bool:
    return bool((item.get("metadata") or {}).get("deletionTimestamp"))


def sync(ctx: Context, keys: Mapping[tuple[str, str], KeyPair] | None = None, max_age: float = 0.0) -> Plan:
    """Write the declared configuration for every watched object; return the plan.

    Credential keys come from ``keys`` (the credential being reconciled) or else from the
    declared configuration already written; credentials without keys yet are left out
    until their own reconcile gives them some.

    Change handlers always sync (``max_age=0``). Timers pass their interval: the plan of
    a sync younger than that is reused when it already holds the given keys, so N
    objects cost one full sync per interval, not N.
    """
    keys = keys or {}
    s = ctx.settings
    with _LOCK:
        cached = _fresh(max_age)
        if cached is not None and all(
            keys_from_declared(cached.config, ns, name) == pair for (ns, name), pair in keys.items()
        ):
            return cached
        existing = current(ctx)
        buckets: list[BucketObject] = []
        for item in ctx.kube.list_objects(BUCKETS, s.namespaces):
            meta = item.get("metadata") or {}
            try:
                spec = parse_bucket(item.get("spec") or {})
            except InvalidSpec:
                continue
            buckets.append(
                BucketObject(
                    namespace=meta["namespace"],
                    name=meta["name"],
                    created=meta.get("creationTimestamp") or "",
                    spec=spec,
                    deleting=_deleting(item),
                )
            )
        credentials: list[CredentialObject] = []
        for item in ctx.kube.list_objects(CREDENTIALS, s.namespaces):
            meta = item.get("metadata") or {}
            try:
                cspec = parse_credential(item.get("spec") or {})
            except InvalidSpec:
                continue
            ns, name = meta["namespace"], meta["name"]
            credentials.append(
                CredentialObject(
                    namespace=ns,
                    name=name,
                    spec=cspec,
                    keys=keys.get((ns, name)) or keys_from_declared(existing, ns, name),
                    deleting=_deleting(item),
                )
            )
        result = plan(buckets, credentials)
        body = declared_secret(s.config_secret_name, s.config_secret_namespace, s.config_secret_key, result.config)
        # The rendering is deterministic, so an unchanged plan is an "unchanged" no-op,
        # while a deleted or hand-edited Secret is rewritten.
        ctx.kube.apply_secret(body)
        _last.plan, _last.at = result, time.monotonic()
        return result
