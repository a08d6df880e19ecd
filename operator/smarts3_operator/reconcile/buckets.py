"""S3Bucket -> an entry in the server's declared configuration."""

from __future__ import annotations

import kopf

from smarts3.config.declared import DeletionPolicy
from smarts3_operator.reconcile import (
    Context,
    api_errors_retried,
    declared,
    forget,
    ident,
    one_at_a_time,
    reject,
    rejected_already,
    retried_by_timer,
)
from smarts3_operator.render import bucket_name_for
from smarts3_operator.specs import InvalidSpec, parse_bucket
from smarts3_operator.status import is_ready, ready_status
from smarts3_operator.status import update as status_update

CONFLICT_DELAY = 60.0
PENDING_DELAY = 1.0
"""Seconds between checks while the server replicas have not applied a change yet."""


def reconcile(ctx: Context, body: kopf.Body, patch: kopf.Patch, *, resync: bool = False) -> None:
    """Converge one object; ``resync`` marks a timer tick (drift repair, cheaper)."""
    if resync and rejected_already(body):
        return
    with one_at_a_time(ident(body)[2]), retried_by_timer(resync):
        _reconcile(ctx, body, patch, max_age=ctx.settings.resync_seconds if resync else 0.0)


def _reconcile(ctx: Context, body: kopf.Body, patch: kopf.Patch, max_age: float) -> None:
    namespace, name, _uid, generation = ident(body)
    try:
        spec = parse_bucket(body.get("spec") or {})
        bucket = bucket_name_for(name, spec)
    except InvalidSpec as exc:
        raise reject(body, patch, exc) from None
    with api_errors_retried():
        plan = declared.sync(ctx, max_age=max_age)
    conflict = plan.conflicts.get((namespace, name))
    if conflict:
        status_update(
            patch.status,
            body.get("status"),
            ready_status(
                body.get("status"),
                ok=False,
                reason="BucketNameConflict",
                message=conflict,
                generation=generation,
            ),
        )
        kopf.warn(body, reason="BucketNameConflict", message=conflict)
        raise kopf.TemporaryError(conflict, delay=CONFLICT_DELAY)
    waiting = declared.applied(ctx, plan.config.generation)
    if waiting:
        status_update(
            patch.status,
            body.get("status"),
            ready_status(
                body.get("status"), ok=False, reason="WaitingForServer", message=waiting, generation=generation
            ),
        )
        raise kopf.TemporaryError(waiting, delay=PENDING_DELAY)
    message = (
        f"bucket {bucket!r} is in the server's declared configuration (deletionPolicy {spec.deletion_policy.value})"
    )
    if ctx.replicas is not None:
        message = f"bucket {bucket!r} exists on every server replica (deletionPolicy {spec.deletion_policy.value})"
    was_ready = is_ready(body.get("status"))
    status_update(
        patch.status,
        body.get("status"),
        ready_status(
            body.get("status"),
            ok=True,
            reason="Declared",
            message=message,
            generation=generation,
            bucketName=bucket,
            endpoint=ctx.settings.endpoint,
        ),
    )
    if not was_ready:
        kopf.info(body, reason="Declared", message=message)


def delete(ctx: Context, body: kopf.Body, patch: kopf.Patch) -> None:
    uid = ident(body)[2]
    with one_at_a_time(uid):
        _delete(ctx, body, patch)
    forget(uid)


def _delete(ctx: Context, body: kopf.Body, patch: kopf.Patch) -> None:
    """Drop the bucket from the declared configuration before the object goes.

    The operator never talks S3: what happens to the bucket is the server's part of the
    contract. An entry removed with ``deletionPolicy: Delete`` makes the server delete the
    bucket if (and only when) it is empty; a non-empty bucket stays, with its objects, and
    the server reports it. With ``Retain`` the bucket and its objects always stay.
    The finalizer is released once the new declared configuration is written.
    """
    _namespace, name, _uid, generation = ident(body)
    try:
        spec = parse_bucket(body.get("spec") or {})
        bucket = bucket_name_for(name, spec)
    except InvalidSpec:
        return  # never declared, nothing to undo
    with api_errors_retried():
        declared.sync(ctx)
    if spec.deletion_policy is DeletionPolicy.DELETE:
        reason = "DeletionRequested"
        message = (
            f"bucket {bucket!r} removed from the declared configuration with deletionPolicy "
            "Delete: the server deletes it if it is empty, and keeps it with its objects otherwise"
        )
    else:
        reason = "Retained"
        message = f"bucket {bucket!r} removed from the declared configuration; its objects are retained"
    status_update(
        patch.status,
        body.get("status"),
        ready_status(body.get("status"), ok=False, reason=reason, message=message, generation=generation),
    )
    kopf.info(body, reason=reason, message=message)
