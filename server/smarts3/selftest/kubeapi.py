"""A minimal Kubernetes REST client on the standard library: the calls the self-test makes.

In a pod it uses the service account (token, CA and namespace files, KUBERNETES_SERVICE_* env);
elsewhere a base URL (the tests' API emulator).
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class KubeApi:
    def __init__(self, base_url: str, *, token: str | None = None, ca_file: str | None = None,
                 timeout: float = 15.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise KubeApiError(0, f"not an http(s) URL: {base_url}")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._context = ssl.create_default_context(cafile=ca_file) if base_url.startswith("https:") else None
        self._timeout = timeout

    @classmethod
    def in_cluster(cls) -> KubeApi:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port or not (SERVICE_ACCOUNT / "token").exists():
            raise KubeApiError(0, "not in a pod with a service account token (use --kube-api URL)")
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", token=(SERVICE_ACCOUNT / "token").read_text().strip(),
                   ca_file=str(SERVICE_ACCOUNT / "ca.crt"))

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        # base_url is http(s) by construction (in_cluster, or the --kube-api flag).
        request = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._context) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise KubeApiError(exc.code, f"{method} {path}: {detail}"[:500]) from None
        except OSError as exc:
            raise KubeApiError(0, f"{method} {path}: {exc}") from None
        result: dict[str, Any] = json.loads(payload) if payload.strip() else {}
        return result

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None if it does not exist."""
        try:
            return self.request("GET", path)
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, path: str) -> bool:
        """Ask to delete; False if it was already gone."""
        try:
            self.request("DELETE", path)
            return True
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
