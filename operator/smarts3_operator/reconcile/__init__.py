"""Reconcilers: one per custom resource kind, plus the shared declared-config Secret.

Each ``reconcile`` serves create, update, resume and the drift-repair timer alike: it
computes the desired state purely (``smarts3_operator.render``), applies it through
``smarts3_operator.kube`` and reports ``status.conditions``. Failures are sorted here:
an invalid spec is a ``kopf.PermanentError`` (after a condition says why), anything the
API server or another object may fix later is a ``kopf.TemporaryError`` with a delay.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import kopf

from smarts3_operator.kube import Kube, KubeError, TransientKubeError
from smarts3_operator.replicas import Replicas
from smarts3_operator.settings import OperatorSettings
from smarts3_operator.specs import InvalidSpec
from smarts3_operator.status import ready_status
from smarts3_operator.status import update as status_update

log = logging.getLogger(__name__)

TRANSIENT_DELAY = 10.0
"""Seconds before retrying after the API server failed to answer."""
REFUSED_DELAY = 30.0
"""Seconds before retrying after the API server refused (RBAC, admission): needs a human."""


@dataclass(frozen=True, slots=True)
class Context:
    kube: Kube
    settings: OperatorSettings
    replicas: Replicas | None = None
    """The server replicas the declared configuration is pushed to (None: pushes are off)."""


_object_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_object_locks_guard = threading.Lock()


@contextmanager
def one_at_a_time(uid: str) -> Iterator[None]:
    """Serialize reconciles of one object.

    kopf runs an object's timer alongside its change handlers; without this, a timer
    tick racing the create handler could see no Secret yet and generate a second key.
    """
    with _object_locks_guard:
        lock = _object_locks[uid]
    with lock:
        yield


def forget(uid: str) -> None:
    with _object_locks_guard:
        _object_locks.pop(uid, None)


@contextmanager
def api_errors_retried() -> Iterator[None]:
    """Turn API failures into kopf's retry-with-delay."""
    try:
        yield
    except TransientKubeError as exc:
        raise kopf.TemporaryError(f"Kubernetes API unavailable: {exc}", delay=TRANSIENT_DELAY) from exc
    except KubeError as exc:
        raise kopf.TemporaryError(f"Kubernetes API refused: {exc}", delay=REFUSED_DELAY) from exc


def reject(body: kopf.Body, patch: kopf.Patch, exc: InvalidSpec) -> kopf.PermanentError:
    """Record an invalid spec on the object (condition and Event); return the error to raise."""
    generation = (body.get("metadata") or {}).get("generation")
    status_update(
        patch.status,
        body.get("status"),
        ready_status(
            body.get("status"),
            ok=False,
            reason="InvalidSpec",
            message=str(exc),
            generation=generation,
        ),
    )
    kopf.warn(body, reason="InvalidSpec", message=str(exc))
    return kopf.PermanentError(f"invalid spec: {exc}")


@contextmanager
def retried_by_timer(resync: bool) -> Iterator[None]:
    """On a timer tick, a temporary failure waits for the next tick, not for kopf's backoff.

    (The status already says what is missing; kopf would otherwise delay the timer.)
    """
    try:
        yield
    except kopf.TemporaryError as exc:
        if not resync:
            raise
        log.info("resync: %s", exc)


def rejected_already(body: kopf.Body) -> bool:
    """Whether this generation of the object was already found invalid (timers skip it)."""
    meta = body.get("metadata") or {}
    for condition in (body.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready" and condition.get("reason") == "InvalidSpec":
            return bool(condition.get("observedGeneration") == meta.get("generation"))
    return False


def ident(body: kopf.Body) -> tuple[str, str, str, int | None]:
    meta = body.get("metadata") or {}
    return meta["namespace"], meta["name"], meta.get("uid", ""), meta.get("generation")


LEGACY_KOPF_ANNOTATIONS = ("smarts3.io/kopf-managed", "smarts3.io/last-handled-configuration")
"""kopf's own annotations under our API prefix (before it moved to kopf.smarts3.io); while the
marker stays, kopf ignores every smarts3.io/ annotation, the rotate annotation included."""


def drop_legacy_kopf_annotations(body: kopf.Body, patch: kopf.Patch) -> None:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    for key in LEGACY_KOPF_ANNOTATIONS:
        if key in annotations:
            patch.metadata.annotations[key] = None


def ready_for_generation(body: kopf.Body) -> bool:
    """Whether the object is Ready for its current generation already.

    A timer tick then does not ask the server replicas again: they applied its change before,
    and a replica that restarts comes back with it (the pushed configuration is kept on
    disk), so a server rollout does not flip every object to not Ready.
    """
    meta = body.get("metadata") or {}
    for condition in (body.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(
                condition.get("status") == "True" and condition.get("observedGeneration") == meta.get("generation")
            )
    return False
