"""kopf registration only: every handler delegates to ``smarts3_operator.reconcile``.

``kopf run -m smarts3_operator.handlers`` (or ``python -m smarts3_operator``) loads this.
Create, update, resume and the drift-repair timer all call the same reconcile, so they
converge to the same state; delete handlers hold the finalizer until the server's
declared configuration no longer has the object.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import kopf

from smarts3_operator.kube import Kube, KubeError, TransientKubeError
from smarts3_operator.reconcile import Context, buckets, credentials, declared
from smarts3_operator.replicas import Replicas
from smarts3_operator.settings import OperatorSettings
from smarts3_operator.specs import BUCKETS, CREDENTIALS, GRANTS, GROUP, VERSION

SETTINGS = OperatorSettings()
log = logging.getLogger(__name__)
FINALIZER = "smarts3.io/finalizer"
KOPF_PREFIX = f"kopf.{GROUP}"
EXPIRY_CHECK_SECONDS = 1.0
"""How often an S3Credential in a rotation overlap checks whether its previous key expired."""
PUSH_CHECK_SECONDS = 2.0
"""How often every server replica is checked for the last generation (new or restarted pods)."""
_stop_pushing = threading.Event()


def _ctx(memo: kopf.Memo) -> Context:
    ctx: Context = memo["ctx"]
    return ctx


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own finalizer and annotation prefix; progress and diff-base go to annotations
    # because the CRDs' structural schemas prune unknown status fields. Not "smarts3.io":
    # kopf marks its prefix (<prefix>/kopf-managed) and then ignores every annotation under
    # it when it looks for changes, so the user's smarts3.io/rotate went unnoticed until the
    # next resync tick (up to a minute). A "kopf." prefix sets no such marker.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX)
    settings.persistence.finalizer = FINALIZER
    # Only the Events we post on purpose (kopf.info/warn), at Normal level and above.
    settings.posting.level = logging.INFO
    # A server-side watch timeout keeps watches from hanging silently behind load
    # balancers (kopf docs, "Configuration: API timeouts").
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.execution.max_workers = 4
    # A deletion that meets a timer mid-tick waits for the tick to end before the delete handler
    # runs; kopf re-checks a stopping timer only every cancellation_polling seconds (default 60),
    # which held finalizers for a minute (the flaky test_deleting_a_credential_revokes_key_and_secret).
    # Our ticks end within a second or two: look again every second.
    settings.background.cancellation_polling = 1.0
    kube = Kube()
    replicas = Replicas(kube, SETTINGS) if SETTINGS.push_token_secret else None
    memo["ctx"] = Context(kube=kube, settings=SETTINGS, replicas=replicas)


@kopf.on.startup()
def declare_at_startup(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Write the declared configuration from every custom resource before watching starts.

    With no custom resources at all no handler would ever run; a failure here is not fatal,
    the first reconcile or timer tick writes it instead.
    """
    ctx = _ctx(memo)
    try:
        if ctx.replicas is not None:
            ctx.replicas.token()  # created before the server pods mount it, when they start after us
        declared.sync(ctx)
    except (KubeError, TransientKubeError) as exc:
        logger.warning("could not write the declared configuration at start-up: %s", exc)
    if ctx.replicas is not None:
        _stop_pushing.clear()
        threading.Thread(target=_keep_pushing, args=(ctx,), name="declared-push", daemon=True).start()


def _keep_pushing(ctx: Context) -> None:
    while not _stop_pushing.wait(PUSH_CHECK_SECONDS):
        try:
            declared.repush(ctx)
        except Exception:  # the API server or a replica hiccup: the next round retries
            log.exception("pushing the declared configuration to the server replicas failed")


@kopf.on.cleanup()
def stop_pushing(**_: Any) -> None:
    _stop_pushing.set()


@kopf.on.probe(id="declaredConfigAge")
def declared_config_age(**_: Any) -> float | None:
    """Seconds since the declared configuration was last written or checked."""
    last = declared.last_sync()
    return None if last is None else round(time.monotonic() - last, 1)


@kopf.on.resume(GROUP, VERSION, BUCKETS)
@kopf.on.create(GROUP, VERSION, BUCKETS)
@kopf.on.update(GROUP, VERSION, BUCKETS)
def bucket_changed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    buckets.reconcile(_ctx(memo), body, patch)


@kopf.timer(GROUP, VERSION, BUCKETS, interval=SETTINGS.resync_seconds, initial_delay=SETTINGS.resync_seconds)
def bucket_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    buckets.reconcile(_ctx(memo), body, patch, resync=True)


@kopf.on.delete(GROUP, VERSION, BUCKETS)
def bucket_deleted(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    buckets.delete(_ctx(memo), body, patch)


@kopf.on.resume(GROUP, VERSION, CREDENTIALS)
@kopf.on.create(GROUP, VERSION, CREDENTIALS)
@kopf.on.update(GROUP, VERSION, CREDENTIALS)
def credential_changed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    credentials.reconcile(_ctx(memo), body, patch)


@kopf.timer(
    GROUP,
    VERSION,
    CREDENTIALS,
    interval=SETTINGS.resync_seconds,
    initial_delay=SETTINGS.resync_seconds,
)
def credential_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    credentials.reconcile(_ctx(memo), body, patch, resync=True)


@kopf.timer(
    GROUP,
    VERSION,
    CREDENTIALS,
    interval=EXPIRY_CHECK_SECONDS,
    field="status.previousKeyExpiresAt",
    value=kopf.PRESENT,
)
def credential_previous_key_expiry(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Revoke a rotated-out key on time (the resync timer may be a minute away)."""
    if credentials.previous_key_expired(body):
        credentials.reconcile(_ctx(memo), body, patch)


@kopf.on.delete(GROUP, VERSION, CREDENTIALS)
def credential_deleted(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    credentials.delete(_ctx(memo), body, patch)


@kopf.on.event(GROUP, VERSION, GRANTS)
def grant_changed(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """An S3BucketGrant came, changed or went: the server's grants follow at once.

    (A low-level event handler: no finalizer and no annotations on the grant. The credentials
    it concerns update their status on their own retry or timer tick.)
    """
    try:
        declared.sync(_ctx(memo))
    except (KubeError, TransientKubeError) as exc:
        logger.warning("could not apply the S3BucketGrant change yet: %s", exc)
