"""The server's declared-configuration Secret: one Secret aggregating every watched object.

It is recomputed from scratch on every change: list all S3Buckets and S3Credentials, take
each credential's keys from its own app Secret (current pair, and the previous pair while a
rotation overlap lasts), plan, write if different. The previous config Secret is read only
as a fallback for a credential whose app Secret is missing (so it is restored with the same
key), never as the source of the rest: deleting or corrupting the config Secret loses nothing,
and the next reconcile or timer tick rewrites it with every key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smarts3.config.declared import DeclaredConfig
from smarts3_operator.kube import KubeError
from smarts3_operator.reconcile import Context
from smarts3_operator.render import (
    BucketObject,
    CredentialObject,
    GrantObject,
    KeySet,
    Plan,
    declared_secret,
    dump_declared,
    keys_from_declared,
    load_declared,
    owned_by,
    plan,
    secret_key_set,
    unb64,
)
from smarts3_operator.replicas import Rollout
from smarts3_operator.specs import (
    BUCKETS,
    CREDENTIALS,
    GRANTS,
    InvalidSpec,
    parse_bucket,
    parse_credential,
    parse_grant,
)

# kopf runs sync handlers in worker threads; the read-plan-write of the one shared
# Secret must not interleave (one operator replica runs at a time: Recreate strategy).
# A credential reconcile also holds it from its sync until its app Secret is written, so no
# other sync can read the old Secret in between and drop the key just declared.
_LOCK = threading.RLock()


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the declared configuration across a sync and the app Secret write that follows."""
    with _LOCK:
        yield


@dataclass(slots=True)
class _Last:
    plan: Plan | None = None
    body: dict[str, Any] | None = None
    at: float | None = None
    text: str = ""
    """The declared YAML of ``plan`` (what the Secret holds and what is pushed)."""
    rollout: Rollout | None = None
    """Where the last push stands on the server replicas."""
    floor: int = 0
    """The next generation is at least this (a replica was found ahead of us)."""


_last = _Last()

CHECK_SECONDS = 1.0
"""A reused plan still re-reads the config Secret (to repair it), at most this often."""
_checked: list[float] = [0.0]

# Credential (namespace, name) -> (uid, keys) as last read from or written to its app Secret.
# Each credential's reconcile (every change and timer tick) refreshes its entry, so a full
# sync reads from the API only the app Secrets it has not seen yet (after a start-up).
_held: dict[tuple[str, str], tuple[str, KeySet]] = {}


def remember(namespace: str, name: str, uid: str, keys: KeySet) -> None:
    """Record the keys just written to (or found in) a credential's app Secret."""
    with _LOCK:
        _held[(namespace, name)] = (uid, keys)


def forget_keys(namespace: str, name: str) -> None:
    with _LOCK:
        _held.pop((namespace, name), None)


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
    try:
        text = unb64(data[s.config_secret_key]) if s.config_secret_key in data else None
    except ValueError:
        text = None  # corrupted: counts as empty, the Secrets hold the keys
    return load_declared(text)


def current_keys(ctx: Context, namespace: str, name: str, max_age: float = 0.0) -> KeySet | None:
    """The credential's keys in the declared configuration (cached up to ``max_age``)."""
    with _LOCK:
        cached = _fresh(max_age)
    config = cached.config if cached is not None else current(ctx)
    return keys_from_declared(config, namespace, name)


def _deleting(item: Mapping[str, Any]) -> bool:
    return bool((item.get("metadata") or {}).get("deletionTimestamp"))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def sync(ctx: Context, keys: Mapping[tuple[str, str], KeySet] | None = None, max_age: float = 0.0) -> Plan:
    """Write the declared configuration for every watched object; return the plan.

    Credential keys come from ``keys`` (the credential being reconciled), else from the
    credential's app Secret (as last seen, see ``remember``), else (Secret missing) from the
    declared configuration already written; credentials without keys yet are left out until
    their own reconcile gives them some.

    Change handlers always sync (``max_age=0``). Timers pass their interval: the plan of
    a sync younger than that is reused when it already holds the given keys, so N
    objects cost one full sync per interval, not N; the Secret is still checked (one read)
    and rewritten if someone deleted or edited it.
    """
    keys = keys or {}
    s = ctx.settings
    with _LOCK:
        cached = _fresh(max_age)
        if (
            cached is not None
            and _last.body is not None
            and all(pair.same_keys(keys_from_declared(cached.config, ns, name)) for (ns, name), pair in keys.items())
        ):
            if time.monotonic() - _checked[0] >= CHECK_SECONDS:
                ctx.kube.apply_secret(_last.body)  # one read; a rewrite if deleted or edited
                _checked[0] = time.monotonic()
            return cached
        now = _now()
        fallback: DeclaredConfig | None = None
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
            uid = meta.get("uid", "")
            found = keys.get((ns, name))
            held = _held.get((ns, name))
            if found is None and held is not None and held[0] == uid:
                found = held[1]
            if found is None and not _deleting(item):
                secret = ctx.kube.read_secret(ns, cspec.secret_name)
                if secret is not None and owned_by(secret, uid):
                    found = secret_key_set(secret, now)
                    if found is not None:
                        _held[(ns, name)] = (uid, found)
                if found is None:
                    fallback = current(ctx) if fallback is None else fallback
                    in_config = keys_from_declared(fallback, ns, name)
                    found = KeySet(in_config.current) if in_config is not None else None
            credentials.append(
                CredentialObject(
                    namespace=ns,
                    name=name,
                    spec=cspec,
                    keys=found.without_expired(now) if found is not None else None,
                    deleting=_deleting(item),
                )
            )
        result = _numbered(ctx, plan(buckets, credentials, _grants(ctx)))
        _write(ctx, result)
        if ctx.replicas is not None:
            _last.rollout = ctx.replicas.push(result.config.generation, _last.text)
            if _last.rollout.newest_seen > result.config.generation:
                # A replica is ahead of us (our state was lost, and the clock went back): jump past it.
                _last.floor = _last.rollout.newest_seen + 1
                result = _numbered(ctx, dataclasses.replace(result, config=_unnumbered(result.config)))
                _write(ctx, result)
                _last.rollout = ctx.replicas.push(result.config.generation, _last.text)
        return result


def _grants(ctx: Context) -> list[GrantObject]:
    try:
        items = ctx.kube.list_objects(GRANTS, ctx.settings.namespaces)
    except KubeError as exc:
        if exc.status == 404:
            return []  # the S3BucketGrant CRD is not installed (yet): nothing is shared
        raise
    grants: list[GrantObject] = []
    for item in items:
        meta = item.get("metadata") or {}
        try:
            grants.append(GrantObject(meta["namespace"], meta["name"], parse_grant(item.get("spec") or {})))
        except InvalidSpec:
            continue  # shares nothing; the CRD schema refuses most of these at admission
    return grants


def _unnumbered(config: DeclaredConfig) -> DeclaredConfig:
    return config.model_copy(update={"generation": 0})


def _numbered(ctx: Context, result: Plan) -> Plan:
    """Give the plan its generation: the last one when nothing changed, else a higher one.

    Generations only grow, also across operator restarts: the floor is the Secret's own
    generation and the clock in milliseconds (the server refuses anything older than what
    it applied, so a lost counter must not start again at 1).
    """
    content = result.config
    previous = _last.plan.config if _last.plan is not None else current(ctx)
    if _last.floor <= previous.generation and _unnumbered(previous) == content and previous.generation:
        generation = previous.generation
    else:
        generation = max(previous.generation + 1, _last.floor, int(time.time() * 1000))
    return dataclasses.replace(result, config=content.model_copy(update={"generation": generation}))


def _write(ctx: Context, result: Plan) -> None:
    s = ctx.settings
    text = dump_declared(result.config)
    body = declared_secret(s.config_secret_name, s.config_secret_namespace, s.config_secret_key, result.config)
    # The rendering is deterministic, so an unchanged plan is an "unchanged" no-op,
    # while a deleted or hand-edited Secret is rewritten.
    ctx.kube.apply_secret(body)
    _last.plan, _last.body, _last.text, _last.at = result, body, text, time.monotonic()
    _checked[0] = _last.at


def repush(ctx: Context) -> None:
    """Bring replicas that are behind (new, restarted, unreachable before) to the last generation.

    Outside the lock: an unreachable replica must not hold up every reconcile, and a push that
    a newer one overtakes is refused by the server (409), never applied.
    """
    with _LOCK:
        if ctx.replicas is None or _last.plan is None:
            return
        generation, text = _last.plan.config.generation, _last.text
    rollout = ctx.replicas.push(generation, text)
    with _LOCK:
        if _last.plan is not None and _last.plan.config.generation == generation:
            _last.rollout = rollout


def rollout() -> Rollout | None:
    return _last.rollout


def applied(ctx: Context, generation: int) -> str | None:
    """None when every server replica applied ``generation``; else what is missing.

    Without pushes (no token Secret configured) a configuration counts as applied once written.
    """
    if ctx.replicas is None:
        return None
    with _LOCK:
        current_rollout = _last.rollout
    if current_rollout is None:
        return "the declared configuration has not been pushed to the server yet"
    if current_rollout.reached(generation):
        return None
    return current_rollout.explain(generation)
