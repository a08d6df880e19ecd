"""Helpers shared by the operator tests (importable; the fixtures live in conftest.py)."""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from smarts3_operator.specs import API_VERSION, GROUP, VERSION

KUBECONFIG = pathlib.Path(os.environ["KUBECONFIG"])
CONFIG_NAMESPACE = "smarts3-system"
CONFIG_SECRET = "smarts3-declared"
ENDPOINT = "http://smarts3.smarts3-system.svc:9000"
RESYNC_SECONDS = 2.0

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class Api:
    """The kubernetes client against the emulator, with the calls the tests use.

    Without a client it loads KUBECONFIG into the kubernetes package's global configuration."""

    def __init__(self, client: Any = None) -> None:
        import kubernetes

        if client is None:
            kubernetes.config.load_kube_config(config_file=str(KUBECONFIG))
        self.core = kubernetes.client.CoreV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.discovery = kubernetes.client.DiscoveryV1Api(client)
        self.ApiException = kubernetes.client.ApiException

    def create(self, plural: str, namespace: str, name: str, spec: dict[str, Any], **meta: Any) -> Any:
        kind = {"s3buckets": "S3Bucket", "s3credentials": "S3Credential", "s3bucketgrants": "S3BucketGrant"}[plural]
        body = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace, **meta},
            "spec": spec,
        }
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            return obj
        except self.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch(self, plural: str, namespace: str, name: str, body: dict[str, Any]) -> Any:
        return self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body)

    def delete(self, plural: str, namespace: str, name: str) -> Any:
        return self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

    def secret(self, namespace: str, name: str) -> Any:
        try:
            return self.core.read_namespaced_secret(name, namespace)
        except self.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def events(self, namespace: str) -> list[Any]:
        return list(self.core.list_namespaced_event(namespace).items)

    def names(self, plural: str, namespace: str) -> list[str]:
        reply = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        return [item["metadata"]["name"] for item in reply.get("items") or []]

    def delete_all(self, namespace: str, timeout: float = 60.0) -> list[str]:
        """Delete every custom resource in ``namespace`` and wait until their finalizers ran;
        returns what is still there after ``timeout`` seconds (a test may leave an object
        that cannot go)."""
        plurals = ("s3credentials", "s3bucketgrants", "s3buckets")
        for plural in plurals:
            for name in self.names(plural, namespace):
                try:
                    self.delete(plural, namespace, name)
                except self.ApiException as exc:
                    if exc.status != 404:
                        raise
        deadline = time.monotonic() + timeout
        while left := [f"{p}/{n}" for p in plurals for n in self.names(p, namespace)]:
            if time.monotonic() > deadline:
                return left
            time.sleep(0.2)
        return []


# kopf posts Events in the background and retries a failed post with backoffs of
# 1, 1, 2, 3, 5, 8, 13, 21 s, one object's Events in order: on a loaded machine an
# Event can trail the change it reports by well over the default 20 s.
EVENT_TIMEOUT = 60.0


def wait_event(api: Api, namespace: str, reason: str) -> None:
    """Wait for an Event with this reason in the namespace."""
    wait_for(
        lambda: any(e.reason == reason for e in api.events(namespace)),
        timeout=EVENT_TIMEOUT,
        what=f"a {reason} Event",
    )
