"""Opt-in workload restarts when a credential's key changes (restarts.py), against the emulator."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from smarts3_operator.restarts import RESTART_ANNOTATION, RESTARTED_AT, SEEN_ANNOTATION, key_digest, restart_patch
from tests.operator.support import Api, wait_event, wait_for


def deployment(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "app:1"}]}},
        },
    }


def test_restart_patch_records_first_then_restarts_on_change() -> None:
    fresh = {"metadata": {"annotations": {RESTART_ANNOTATION: "a-s3"}}}
    first = restart_patch(fresh, "a-s3", "d1", "T1")
    assert first == {"metadata": {"annotations": {SEEN_ANNOTATION: '{"a-s3": "d1"}'}}}  # opting in restarts nothing
    seen = {"metadata": {"annotations": {SEEN_ANNOTATION: '{"a-s3": "d1", "b-s3": "x"}'}}}
    assert restart_patch(seen, "a-s3", "d1", "T2") is None
    changed = restart_patch(seen, "a-s3", "d2", "T3")
    assert changed is not None
    assert changed["spec"] == {"template": {"metadata": {"annotations": {RESTARTED_AT: "T3"}}}}
    assert json.loads(changed["metadata"]["annotations"][SEEN_ANNOTATION]) == {"a-s3": "d2", "b-s3": "x"}


@pytest.mark.usefixtures("operator")
def test_rotation_restarts_only_the_workloads_that_opted_in(api: Api, namespace: str) -> None:
    import kubernetes

    apps = kubernetes.client.AppsV1Api()
    for name, opt_in in (
        ("web", {RESTART_ANNOTATION: "other-s3, web-s3"}),
        ("elsewhere", {RESTART_ANNOTATION: "other-s3"}),
        ("plain", {}),
    ):
        apps.create_namespaced_deployment(namespace, deployment(name, opt_in))
    api.create("s3buckets", namespace, "reload-data", {})
    api.create(
        "s3credentials",
        namespace,
        "web",
        {"secretName": "web-s3", "buckets": [{"name": "reload-data", "access": "readwrite"}]},
    )

    def annotations(name: str) -> tuple[dict[str, str], dict[str, str]]:
        obj = apps.read_namespaced_deployment(name, namespace)
        return obj.metadata.annotations or {}, obj.spec.template.metadata.annotations or {}

    first_key = wait_for(lambda: (s := api.secret(namespace, "web-s3")) and s.data["AWS_ACCESS_KEY_ID"], what="key")
    first_digest = key_digest(base64.b64decode(first_key).decode())
    wait_for(
        lambda: json.loads(annotations("web")[0].get(SEEN_ANNOTATION, "{}")).get("web-s3") == first_digest,
        what="the first key recorded on the opted-in Deployment",
    )
    assert RESTARTED_AT not in annotations("web")[1]

    api.patch("s3credentials", namespace, "web", {"metadata": {"annotations": {"smarts3.io/rotate": "now"}}})
    wait_for(lambda: RESTARTED_AT in annotations("web")[1], what="the pod template bumped")
    seen = json.loads(annotations("web")[0][SEEN_ANNOTATION])
    assert seen["web-s3"] != first_digest
    for untouched in ("elsewhere", "plain"):
        meta, template = annotations(untouched)
        assert SEEN_ANNOTATION not in meta and RESTARTED_AT not in template
    wait_event(api, namespace, "WorkloadsRestarted")
