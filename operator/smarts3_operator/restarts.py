"""Opt-in restarts of the workloads that consume a credential's Secret (the Reloader pattern).

A Deployment or StatefulSet annotated ``smarts3.io/restart-on-secret-change: "<secret>[,<secret>...]"``
gets a new pod template annotation (``smarts3.io/restartedAt``) when the access key in one of
those Secrets changes, so its pods restart with the new key during a rotation overlap. The key
each workload last saw is kept in its own (non-template) annotation: the first sight only
records it, so opting in never restarts anything by itself.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from smarts3_operator.kube import Kube

log = logging.getLogger(__name__)

RESTART_ANNOTATION = "smarts3.io/restart-on-secret-change"
SEEN_ANNOTATION = "smarts3.io/seen-keys"
"""On the workload: Secret name -> a digest of the access key id it last restarted for (JSON)."""
RESTARTED_AT = "smarts3.io/restartedAt"
"""On the pod template: bumped to restart the pods."""


def key_digest(access_key_id: str) -> str:
    return hashlib.sha256(access_key_id.encode()).hexdigest()[:16]


def watched_secrets(workload: Mapping[str, Any]) -> list[str]:
    annotations = (workload.get("metadata") or {}).get("annotations") or {}
    return [name.strip() for name in str(annotations.get(RESTART_ANNOTATION) or "").split(",") if name.strip()]


def restart_patch(workload: Mapping[str, Any], secret: str, digest: str, now: str) -> dict[str, Any] | None:
    """The patch that records ``digest`` for ``secret`` (and restarts the pods when it changed)."""
    annotations = (workload.get("metadata") or {}).get("annotations") or {}
    try:
        seen = json.loads(annotations.get(SEEN_ANNOTATION) or "{}")
    except ValueError:
        seen = {}
    if not isinstance(seen, dict):
        seen = {}
    if seen.get(secret) == digest:
        return None
    changed = secret in seen
    seen[secret] = digest
    patch: dict[str, Any] = {"metadata": {"annotations": {SEEN_ANNOTATION: json.dumps(seen, sort_keys=True)}}}
    if changed:
        patch["spec"] = {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}
    return patch


def restart_consumers(kube: Kube, namespace: str, secret: str, access_key_id: str) -> list[str]:
    """Bring the workloads that opted in for ``secret`` to its current key; the restarted ones' names."""
    digest = key_digest(access_key_id)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    restarted: list[str] = []
    for kind, workload in kube.list_workloads(namespace):
        if secret not in watched_secrets(workload):
            continue
        patch = restart_patch(workload, secret, digest, now)
        if patch is None:
            continue
        name = workload["metadata"]["name"]
        kube.patch_workload(kind, namespace, name, patch)
        if "spec" in patch:
            restarted.append(f"{kind}/{name}")
            log.info("restarted %s/%s/%s: the key in Secret %s changed", namespace, kind, name, secret)
    return restarted
