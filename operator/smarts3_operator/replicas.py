"""Pushing the declared configuration to every server replica, and what each one applied.

The server replicas are the endpoints of the server's Service (EndpointSlices); each serves
``PUT /_declared`` and ``GET /_declared/status`` on its ops port behind a bearer token that
the operator keeps in a Secret (created once, mounted by the server). A replica is pushed
to only when its status shows an older generation, so repeating a push is cheap; an object
is Ready only once every replica reports a generation at least the one holding its change.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3

from smarts3_operator.kube import Kube
from smarts3_operator.render import managed_secret, unb64
from smarts3_operator.settings import OperatorSettings

log = logging.getLogger(__name__)

TOKEN_KEY = "token"  # noqa: S105  (a key name)
TIMEOUT = urllib3.Timeout(connect=1.0, read=5.0)


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    address: str
    generation: int | None
    """The generation in force; None when the replica did not answer."""
    buckets: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Rollout:
    """Where a generation stands on the replicas."""

    generation: int
    replicas: tuple[ReplicaStatus, ...]

    def reached(self, generation: int) -> bool:
        """Whether every replica (and there is at least one) applied ``generation`` or later."""
        return bool(self.replicas) and all(
            r.generation is not None and r.generation >= generation for r in self.replicas
        )

    def bucket_outcomes(self, bucket: str) -> set[str]:
        """What the replicas did with ``bucket`` in the generation they applied."""
        return {r.buckets.get(bucket, "Absent") for r in self.replicas if r.generation is not None}

    def explain(self, generation: int) -> str:
        if not self.replicas:
            return "no server replica found (the server's Service has no ready endpoints)"
        behind = [
            f"{r.address} (unreachable: {r.error})" if r.generation is None else f"{r.address} (at {r.generation})"
            for r in self.replicas
            if r.generation is None or r.generation < generation
        ]
        return f"waiting for the server replicas to apply generation {generation}: {', '.join(behind)}"

    @property
    def newest_seen(self) -> int:
        return max((r.generation or 0 for r in self.replicas), default=0)


def token_secret(name: str, namespace: str, token: str) -> dict[str, Any]:
    return managed_secret(name, namespace, "declared-push-token", {TOKEN_KEY: token})


class Replicas:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        assert settings.push_token_secret is not None
        self.kube = kube
        self.settings = settings
        self.secret_name = settings.push_token_secret
        self.namespace = settings.server_namespace or settings.config_secret_namespace
        self._http = urllib3.PoolManager(timeout=TIMEOUT, retries=False)
        self._token: str | None = None
        self._lock = threading.Lock()
        self.last: Rollout | None = None

    def token(self) -> str:
        """The push token: read from its Secret, created (once, random) when missing."""
        with self._lock:
            if self._token is None:
                secret = self.kube.read_secret(self.settings.config_secret_namespace, self.secret_name)
                token = None
                if secret is not None:
                    try:
                        token = unb64((secret.get("data") or {})[TOKEN_KEY])
                    except (KeyError, ValueError):
                        token = None
                if not token:
                    token = secrets.token_urlsafe(32)
                    self.kube.apply_secret(token_secret(self.secret_name, self.settings.config_secret_namespace, token))
                self._token = token
            return self._token

    def addresses(self) -> list[str]:
        return self.kube.endpoint_addresses(self.namespace, self.settings.server_service)

    def _request(self, method: str, address: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        host = f"[{address}]" if ":" in address else address
        url = f"http://{host}:{self.settings.server_ops_port}{path}"
        reply = self._http.request(
            method, url, body=body, headers={"Authorization": f"Bearer {self.token()}"}, preload_content=True
        )
        try:
            data = json.loads(reply.data or b"{}")
        except ValueError:
            data = {"error": reply.data[:200].decode(errors="replace")}
        return reply.status, data if isinstance(data, dict) else {}

    def _one(self, address: str, generation: int, text: str) -> ReplicaStatus:
        try:
            status, data = self._request("GET", address, "/_declared/status")
            if status == 200 and int(data.get("generation") or 0) < generation:
                status, data = self._request("PUT", address, "/_declared", text.encode())
            if status == 401:
                self._token = None  # replaced: read it again next time
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return ReplicaStatus(address, None, error=str(exc))
        if status not in (200, 409) or "generation" not in data:
            return ReplicaStatus(address, None, error=f"HTTP {status}: {data.get('error') or ''}".strip())
        return ReplicaStatus(address, int(data["generation"]), dict(data.get("buckets") or {}), data.get("error"))

    def push(self, generation: int, text: str) -> Rollout:
        """Bring every replica to ``generation`` (``text`` is that configuration)."""
        rollout = Rollout(generation, tuple(self._one(a, generation, text) for a in self.addresses()))
        self.last = rollout
        for replica in rollout.replicas:
            if replica.generation is None or replica.generation < generation:
                log.info("server replica %s not at generation %d: %s", replica.address, generation, replica.error)
        return rollout
