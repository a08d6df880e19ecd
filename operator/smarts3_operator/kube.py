"""The only module that talks to the Kubernetes API.

Small, synchronous helpers over the official client (kopf runs our sync handlers in
worker threads): read, create-or-patch and delete-if-present for Secrets, and lists of
our custom resources. API errors are sorted once, here: 404 means "absent", 409 on
create means "exists, patch it", and throttling, server errors and broken connections
become ``TransientKubeError`` for the caller to retry with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

import kubernetes  # type: ignore[import-untyped]
import urllib3

from smarts3_operator.render import secret_patch
from smarts3_operator.specs import GROUP, VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = Literal["created", "updated", "unchanged"]

_TRANSIENT_STATUSES = {0, 408, 429, 500, 502, 503, 504}


class TransientKubeError(Exception):
    """The API server could not answer now; try again later."""


class KubeError(Exception):
    """The API server refused a request for a reason that retrying will not fix soon."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except kubernetes.client.ApiException as exc:
        if exc.status in _TRANSIENT_STATUSES:
            raise TransientKubeError(f"{exc.status} {exc.reason}") from exc
        raise KubeError(exc.status, str(exc.reason), str(exc.body)[:300]) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientKubeError(str(exc)) from exc


class Kube:
    def __init__(self, api_client: Any | None = None) -> None:
        if api_client is None:
            try:
                kubernetes.config.load_incluster_config()
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config()
            api_client = kubernetes.client.ApiClient()
        self._client = api_client
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._discovery = kubernetes.client.DiscoveryV1Api(api_client)
        self._apps = kubernetes.client.AppsV1Api(api_client)

    def _plain(self, obj: Any) -> dict[str, Any]:
        plain: dict[str, Any] = self._client.sanitize_for_serialization(obj)
        return plain

    # -- Secrets -------------------------------------------------------------------------

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._plain(_call(self._core.read_namespaced_secret, name, namespace))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def apply_secret(self, body: Mapping[str, Any]) -> Outcome:
        """Create the Secret, or bring an existing one to ``body`` (data, labels, annotations,
        owner references); keys of ``data`` that are not in ``body`` are removed."""
        meta = body["metadata"]
        existing = self.read_secret(meta["namespace"], meta["name"])
        if existing is None:
            try:
                _call(self._core.create_namespaced_secret, meta["namespace"], dict(body))
                return "created"
            except KubeError as exc:
                if exc.status != 409:
                    raise
                existing = self.read_secret(meta["namespace"], meta["name"])
                if existing is None:
                    raise TransientKubeError("Secret vanished while being created") from exc
        patch = secret_patch(existing, body)
        if not patch:
            return "unchanged"
        _call(self._core.patch_namespaced_secret, meta["name"], meta["namespace"], patch)
        return "updated"

    def delete_secret(self, namespace: str, name: str) -> bool:
        try:
            _call(self._core.delete_namespaced_secret, name, namespace)
            return True
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise

    # -- custom resources ------------------------------------------------------------------

    def list_objects(self, plural: str, namespaces: Iterable[str]) -> list[dict[str, Any]]:
        """Every object of ``plural`` in ``namespaces`` (all namespaces when empty)."""
        wanted = list(namespaces)
        if not wanted:
            reply = _call(self._custom.list_cluster_custom_object, GROUP, VERSION, plural)
            return list(reply.get("items") or [])
        items: list[dict[str, Any]] = []
        for namespace in wanted:
            reply = _call(self._custom.list_namespaced_custom_object, GROUP, VERSION, namespace, plural)
            items.extend(reply.get("items") or [])
        return items

    # -- the server's replicas -------------------------------------------------------------

    def endpoint_addresses(self, namespace: str, service: str) -> list[str]:
        """The addresses of the Service's ready, not terminating endpoints (its EndpointSlices)."""
        reply = _call(
            self._discovery.list_namespaced_endpoint_slice,
            namespace,
            label_selector=f"kubernetes.io/service-name={service}",
        )
        addresses: set[str] = set()
        for item in self._plain(reply).get("items") or []:
            labels = (item.get("metadata") or {}).get("labels") or {}
            if labels.get("kubernetes.io/service-name") != service:
                continue  # the selector already says so; an emulator may not apply it
            for endpoint in item.get("endpoints") or []:
                conditions = endpoint.get("conditions") or {}
                if conditions.get("ready") is False or conditions.get("terminating") is True:
                    continue
                addresses.update((endpoint.get("addresses") or [])[:1])
        return sorted(addresses)

    # -- workloads (opt-in restarts) ---------------------------------------------------------

    def list_workloads(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        """The namespace's Deployments and StatefulSets, as (kind, object)."""
        found: list[tuple[str, dict[str, Any]]] = []
        for kind, lister in (
            ("Deployment", self._apps.list_namespaced_deployment),
            ("StatefulSet", self._apps.list_namespaced_stateful_set),
        ):
            reply = self._plain(_call(lister, namespace))
            found.extend((kind, item) for item in reply.get("items") or [])
        return found

    def patch_workload(self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        patcher = {
            "Deployment": self._apps.patch_namespaced_deployment,
            "StatefulSet": self._apps.patch_namespaced_stateful_set,
        }[kind]
        _call(patcher, name, namespace, dict(patch))
