"""S3Credential -> an app-facing Secret and a credential entry in the declared configuration."""

from __future__ import annotations

import contextlib
import datetime
import logging

import kopf

from smarts3_operator.kube import KubeError
from smarts3_operator.reconcile import (
    Context,
    api_errors_retried,
    declared,
    drop_legacy_kopf_annotations,
    forget,
    ident,
    one_at_a_time,
    ready_for_generation,
    reject,
    rejected_already,
    retried_by_timer,
)
from smarts3_operator.render import (
    ROTATE_ANNOTATION,
    app_secret,
    choose_keys,
    format_time,
    owned_by,
    parse_time,
)
from smarts3_operator.restarts import restart_consumers
from smarts3_operator.specs import InvalidSpec, parse_credential
from smarts3_operator.status import ready_status
from smarts3_operator.status import update as status_update

log = logging.getLogger(__name__)
MISSING_DELAY = 5.0
PENDING_DELAY = 1.0
"""Seconds between checks while the server replicas have not applied the key yet."""
CONFLICT_DELAY = 60.0

_EVENTS = {
    "generated": ("KeyGenerated", "generated access key {key} into Secret {secret!r}"),
    "rotated": ("KeyRotated", "rotated: new access key {key} in Secret {secret!r}{overlap}"),
    "expired": ("PreviousKeyExpired", "the previous access key stopped working; {key} is the only one"),
    "restored": (
        "SecretRestored",
        "Secret {secret!r} was missing; rewrote it with access key {key}",
    ),
}


def reconcile(ctx: Context, body: kopf.Body, patch: kopf.Patch, *, resync: bool = False) -> None:
    """Converge one object; ``resync`` marks a timer tick (drift repair, cheaper)."""
    if resync and rejected_already(body):
        return
    drop_legacy_kopf_annotations(body, patch)
    with one_at_a_time(ident(body)[2]), retried_by_timer(resync):
        _reconcile(ctx, body, patch, max_age=ctx.settings.resync_seconds if resync else 0.0)


def _reconcile(ctx: Context, body: kopf.Body, patch: kopf.Patch, max_age: float) -> None:
    namespace, name, uid, generation = ident(body)
    status = body.get("status") or {}
    try:
        spec = parse_credential(body.get("spec") or {})
    except InvalidSpec as exc:
        raise reject(body, patch, exc) from None
    rotation = ((body.get("metadata") or {}).get("annotations") or {}).get(ROTATE_ANNOTATION, "")

    with api_errors_retried():
        existing = ctx.kube.read_secret(namespace, spec.secret_name)
        if existing is not None and not owned_by(existing, uid):
            message = f"Secret {spec.secret_name!r} exists and does not belong to this S3Credential"
            status_update(
                patch.status,
                body.get("status"),
                ready_status(
                    status,
                    ok=False,
                    reason="SecretConflict",
                    message=message,
                    generation=generation,
                ),
            )
            kopf.warn(body, reason="SecretConflict", message=message)
            raise kopf.TemporaryError(message, delay=CONFLICT_DELAY)
        keys, how = choose_keys(
            existing,
            rotation,
            declared.current_keys(ctx, namespace, name, max_age),
            now=datetime.datetime.now(datetime.UTC),
            overlap=spec.previous_key_ttl,
        )
        # New keys: no other sync may read the old app Secret until this one is written,
        # or it would drop the key just declared. Kept keys need no such guard (timer ticks).
        with declared.exclusive() if how != "kept" else contextlib.nullcontext():
            # The server learns the key before the application does, so a pod that starts
            # with the new Secret never meets a server that refuses it; on rotation the old
            # key stays declared until it expires, so running pods keep working meanwhile.
            plan = declared.sync(ctx, keys={(namespace, name): keys}, max_age=max_age)
            refused = set(plan.refused.get((namespace, name), ()))
            bucket_names = {
                ref.name: plan.bucket_names[(ref.namespace_or(namespace), ref.name)]
                for ref in spec.buckets
                if (ref.namespace_or(namespace), ref.name) in plan.bucket_names
                and f"{ref.namespace_or(namespace)}/{ref.name}" not in refused
            }
            outcome = ctx.kube.apply_secret(
                app_secret(
                    namespace=namespace,
                    credential=name,
                    credential_uid=uid,
                    spec=spec,
                    keys=keys,
                    rotation=rotation,
                    endpoint=ctx.settings.endpoint,
                    region=ctx.settings.region,
                    bucket_names=bucket_names,
                )
            )
            declared.remember(namespace, name, uid, keys)
        if how == "kept" and outcome == "created":
            how = "restored"  # deleted between our read and our write: this write restored it
        if how != "kept" or max_age == 0:
            _restart_consumers(ctx, body, namespace, spec.secret_name, keys.current.access_key_id)
        old_secret = status.get("secretName")
        if old_secret and old_secret != spec.secret_name:
            _delete_owned_secret(ctx, namespace, old_secret, uid)
    if how in _EVENTS:
        reason, template = _EVENTS[how]
        overlap = ""
        if keys.previous is not None and keys.previous_expires_at is not None:
            overlap = (
                f"; the previous key {keys.previous.access_key_id} works until {format_time(keys.previous_expires_at)}"
            )
        kopf.info(
            body,
            reason=reason,
            message=template.format(key=keys.current.access_key_id, secret=spec.secret_name, overlap=overlap),
        )

    fields = {
        "accessKeyId": keys.current.access_key_id,
        "secretName": spec.secret_name,
        # None removes the field from the status (a JSON merge patch).
        "previousAccessKeyId": keys.previous.access_key_id if keys.previous is not None else None,
        "previousKeyExpiresAt": format_time(keys.previous_expires_at) if keys.previous_expires_at else None,
    }
    if refused:
        message = (
            f"S3Bucket {', '.join(sorted(refused))} is in another namespace and no S3BucketGrant there "
            f"lets namespace {namespace!r} bind it; the key works for the other buckets"
        )
        status_update(
            patch.status,
            body.get("status"),
            ready_status(status, ok=False, reason="RefNotPermitted", message=message, generation=generation, **fields),
        )
        raise kopf.TemporaryError(message, delay=MISSING_DELAY)
    missing = plan.missing.get((namespace, name))
    if missing:
        message = (
            f"S3Bucket {', '.join(sorted(missing))} not found or not declared in namespace "
            f"{namespace!r}; the key works for the other buckets and gets these once declared"
        )
        status_update(
            patch.status,
            body.get("status"),
            ready_status(
                status,
                ok=False,
                reason="BucketNotFound",
                message=message,
                generation=generation,
                **fields,
            ),
        )
        raise kopf.TemporaryError(message, delay=MISSING_DELAY)
    resync_of_ready = max_age > 0 and how == "kept" and ready_for_generation(body)
    waiting = None if resync_of_ready else declared.applied(ctx, plan.config.generation)
    if waiting:
        status_update(
            patch.status,
            body.get("status"),
            ready_status(status, ok=False, reason="WaitingForServer", message=waiting, generation=generation, **fields),
        )
        raise kopf.TemporaryError(waiting, delay=PENDING_DELAY)
    grants = ", ".join(f"{bucket_names[r.name]} ({r.access})" for r in spec.buckets if r.name in bucket_names)
    status_update(
        patch.status,
        body.get("status"),
        ready_status(
            status,
            ok=True,
            reason="SecretWritten",
            message=f"Secret {spec.secret_name!r} holds key {keys.current.access_key_id} for {grants}",
            generation=generation,
            **fields,
        ),
    )


def _restart_consumers(ctx: Context, body: kopf.Body, namespace: str, secret: str, key_id: str) -> None:
    """The opt-in restarts (restarts.py); without the RBAC for it, a warning and nothing else."""
    try:
        restarted = restart_consumers(ctx.kube, namespace, secret, key_id)
    except KubeError as exc:
        log.warning("cannot restart the workloads using Secret %s/%s: %s", namespace, secret, exc)
        return
    if restarted:
        kopf.info(
            body,
            reason="WorkloadsRestarted",
            message=f"the key in Secret {secret!r} changed; restarted {', '.join(restarted)}",
        )


def previous_key_expired(body: kopf.Body) -> bool:
    """Whether the object's previous key (after a rotation) has reached its expiry."""
    expires = parse_time(str((body.get("status") or {}).get("previousKeyExpiresAt") or ""))
    return expires is not None and expires <= datetime.datetime.now(datetime.UTC)


def delete(ctx: Context, body: kopf.Body, patch: kopf.Patch) -> None:
    uid = ident(body)[2]
    with one_at_a_time(uid):
        _delete(ctx, body, patch)
    forget(uid)


def _delete(ctx: Context, body: kopf.Body, patch: kopf.Patch) -> None:
    """Revoke the key in the server first, then remove the app Secret."""
    namespace, name, uid, _generation = ident(body)
    with api_errors_retried():
        declared.forget_keys(namespace, name)
        declared.sync(ctx)
        try:
            secret_name = parse_credential(body.get("spec") or {}).secret_name
        except InvalidSpec:
            secret_name = str((body.get("status") or {}).get("secretName") or "")
        if secret_name:
            _delete_owned_secret(ctx, namespace, secret_name, uid)
    kopf.info(
        body,
        reason="KeyRevoked",
        message=f"access key of S3Credential {name!r} removed from the server",
    )


def _delete_owned_secret(ctx: Context, namespace: str, name: str, uid: str) -> None:
    secret = ctx.kube.read_secret(namespace, name)
    if secret is not None and owned_by(secret, uid):
        ctx.kube.delete_secret(namespace, name)


__all__ = ["delete", "previous_key_expired", "reconcile"]
