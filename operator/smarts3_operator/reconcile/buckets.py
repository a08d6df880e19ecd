"""S3Bucket -> an entry in the server's declared configuration."""

from __future__ import annotations

import kopf

from smarts3.config.declared import DeletionPolicy
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
from smarts3_operator.render import bucket_name_for
from smarts3_operator.specs import InvalidSpec, parse_bucket
from smarts3_operator.status import condition_reason, is_ready, ready_status
from smarts3_operator.status import update as status_update

CONFLICT_DELAY = 60.0
PENDING_DELAY = 1.0
"""Seconds between checks while the server replicas have not applied a change yet."""
DELETION_CHECK_DELAY = 2.0
"""Seconds between checks while a Delete-policy bucket waits for the server (or to be emptied)."""
NOT_EMPTY = "BucketNotEmpty"
OBJECT_LOCKED = "ObjectLocked"
"""forceDelete emptied the bucket but for versions under COMPLIANCE retention or legal hold."""
NAME_TAKEN = "NameTaken"
"""Another S3Bucket, in any namespace and created earlier, holds the bucket name."""
ON_DELETE = {
    (DeletionPolicy.RETAIN, False): "; deleting this S3Bucket keeps the bucket and its objects",
    (DeletionPolicy.RETAIN, True): (
        "; deleting this S3Bucket keeps the bucket and its objects (Retain ignores forceDelete)"
    ),
    (DeletionPolicy.DELETE, False): "; deleting this S3Bucket deletes the bucket once it is empty",
    (DeletionPolicy.DELETE, True): "; deleting this S3Bucket deletes the bucket and every object in it",
}
"""What the Ready message says deletion will do, so it is on record before anyone deletes."""


def reconcile(ctx: Context, body: kopf.Body, patch: kopf.Patch, *, resync: bool = False) -> None:
    """Converge one object; ``resync`` marks a timer tick (drift repair, cheaper)."""
    if resync and rejected_already(body):
        return
    drop_legacy_kopf_annotations(body, patch)
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
                reason=NAME_TAKEN,
                message=conflict,
                generation=generation,
            ),
        )
        kopf.warn(body, reason=NAME_TAKEN, message=conflict)
        raise kopf.TemporaryError(conflict, delay=CONFLICT_DELAY)
    resync_of_ready = max_age > 0 and ready_for_generation(body)
    waiting = None if resync_of_ready else declared.applied(ctx, plan.config.generation)
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
    message += ON_DELETE[(spec.deletion_policy, spec.force_delete)]
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
    """Drop the bucket from the declared configuration; with Delete, hold on until the server did.

    The operator never talks S3: the server deletes the bucket (emptying it first with
    ``forceDelete``) and says so in its status; the finalizer is released only once every
    replica reports the bucket deleted. A non-empty bucket without ``forceDelete`` keeps the
    object, ``Ready=False, reason BucketNotEmpty`` and a Warning Event, until someone empties
    the bucket or sets ``forceDelete``. With ``Retain`` the bucket and its objects stay, as the
    status said all along; without pushes (no replicas to ask) the finalizer goes once the
    configuration is written, as before.
    """
    _namespace, name, _uid, generation = ident(body)
    try:
        spec = parse_bucket(body.get("spec") or {})
        bucket = bucket_name_for(name, spec)
    except InvalidSpec:
        return  # never declared, nothing to undo
    with api_errors_retried():
        plan = declared.sync(ctx)
    deleting = any(d.name == bucket for d in plan.config.deletions)
    if spec.deletion_policy is DeletionPolicy.DELETE and deleting and ctx.replicas is not None:
        _wait_for_server_deletion(ctx, body, patch, bucket, plan.config.generation, spec.force_delete)
        reason, message = "Deleted", f"bucket {bucket!r} deleted on every server replica"
    elif spec.deletion_policy is DeletionPolicy.DELETE and deleting:
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


def _wait_for_server_deletion(
    ctx: Context, body: kopf.Body, patch: kopf.Patch, bucket: str, config_generation: int, force: bool
) -> None:
    """Return once every replica deleted ``bucket``; else report why not and retry soon."""
    generation = ident(body)[3]
    waiting = declared.applied(ctx, config_generation)
    rollout = declared.rollout()
    outcomes = rollout.bucket_outcomes(bucket) if rollout is not None and not waiting else set()
    if outcomes and outcomes <= {"Deleted", "Absent"}:
        return
    kept = _kept_back(bucket, outcomes)
    if kept is not None:
        reason, message = kept
        if condition_reason(body.get("status")) != reason:
            kopf.warn(body, reason=reason, message=message)
    else:
        reason = "WaitingForServer"
        message = waiting or f"waiting for the server replicas to delete bucket {bucket!r}" + (
            " (emptying it first)" if force else ""
        )
    status_update(
        patch.status,
        body.get("status"),
        ready_status(body.get("status"), ok=False, reason=reason, message=message, generation=generation),
    )
    raise kopf.TemporaryError(message, delay=DELETION_CHECK_DELAY)


def _kept_back(bucket: str, outcomes: set[str]) -> tuple[str, str] | None:
    """(reason, message) when a replica keeps the bucket for what it holds; None while it is busy."""
    if OBJECT_LOCKED in outcomes:
        return OBJECT_LOCKED, (
            f"bucket {bucket!r} holds versions under COMPLIANCE retention or legal hold: forceDelete removed "
            "everything else, and the server keeps the bucket with them until their retention ends or the "
            "hold is lifted"
        )
    if NOT_EMPTY in outcomes:
        return NOT_EMPTY, (
            f"bucket {bucket!r} is not empty: the server keeps it, and this S3Bucket waits until it is "
            "emptied or spec.forceDelete is true"
        )
    return None
