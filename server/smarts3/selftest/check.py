"""The self-test's steps: declare, wait for Ready, use the key, clean up. Each step prints one line."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smarts3.selftest import s3ops
from smarts3.selftest.kubeapi import KubeApi

API_VERSION = "smarts3.io/v1beta1"  # the operator's (smarts3_operator.specs.API_VERSION; a test ties them)
T = TypeVar("T")
CLEANUP_SECONDS = 90.0  # finalizers: the operator removes the key and the (emptied) bucket first


class SelfTestFailed(Exception):
    """A step did not do what an application relies on."""


@dataclass
class Options:
    namespace: str
    name: str  # of the S3Bucket (= the bucket), the S3Credential, and "<name>-s3" for its Secret
    endpoint: str | None = None  # default: the Secret's AWS_ENDPOINT_URL
    timeout: float = 120.0
    verify_tls: bool = True
    log: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    timings: dict[str, float] = field(default_factory=dict)


def _path(namespace: str, plural: str, name: str = "") -> str:
    base = f"/apis/{API_VERSION}/namespaces/{namespace}/{plural}"
    return f"{base}/{name}" if name else base


def _ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _why_not(obj: dict[str, Any] | None) -> str:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    return f"{ready.get('reason')}: {ready.get('message')}" if ready else "no Ready condition yet"


def _until(opts: Options, what: str, probe: Callable[[], T | None], deadline: float) -> T:
    while True:
        found = probe()
        if found:
            return found
        if opts.clock() >= deadline:
            raise SelfTestFailed(f"timed out waiting for {what}")
        opts.sleep(0.5)


def _remove(kube: KubeApi, opts: Options, deadline: float) -> None:
    """Delete the credential, then the bucket, and wait until both are gone (finalizers run)."""
    for plural in ("s3credentials", "s3buckets"):
        path = _path(opts.namespace, plural, opts.name)
        if kube.delete(path):

            def gone(p: str = path) -> bool:
                return kube.get(p) is None

            _until(opts, f"{plural}/{opts.name} to be deleted", gone, deadline)


def run(kube: KubeApi, opts: Options) -> None:
    start = opts.clock()
    deadline = start + opts.timeout
    secret_name = f"{opts.name}-s3"
    # A run that died half-way left its objects: start clean.
    _remove(kube, opts, deadline)
    try:
        kube.request("POST", _path(opts.namespace, "s3buckets"), {
            "apiVersion": API_VERSION, "kind": "S3Bucket",
            "metadata": {"name": opts.name, "namespace": opts.namespace},
            "spec": {"deletionPolicy": "Delete"},
        })
        kube.request("POST", _path(opts.namespace, "s3credentials"), {
            "apiVersion": API_VERSION, "kind": "S3Credential",
            "metadata": {"name": opts.name, "namespace": opts.namespace},
            "spec": {"secretName": secret_name, "buckets": [{"name": opts.name, "access": "readwrite"}]},
        })
        opts.log(f"created S3Bucket and S3Credential {opts.namespace}/{opts.name}")
        for plural in ("s3buckets", "s3credentials"):
            path = _path(opts.namespace, plural, opts.name)

            def ready(p: str = path) -> bool:
                return _ready(kube.get(p))

            try:
                _until(opts, f"{plural}/{opts.name} Ready", ready, deadline)
            except SelfTestFailed:
                raise SelfTestFailed(f"{plural}/{opts.name} not Ready: {_why_not(kube.get(path))}") from None
        opts.timings["ready"] = opts.clock() - start
        opts.log(f"both Ready after {opts.timings['ready']:.1f} s")
        secret = _until(opts, f"Secret {secret_name}",
                        lambda: kube.get(f"/api/v1/namespaces/{opts.namespace}/secrets/{secret_name}"), deadline)
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        _use_key(data, opts, deadline)
        opts.timings["usable"] = opts.clock() - start
    except BaseException:
        # Clean up, but report the step that failed, not a cleanup that failed after it.
        try:
            _remove(kube, opts, opts.clock() + CLEANUP_SECONDS)
            opts.log("deleted the S3Credential and the S3Bucket")
        except Exception as exc:
            opts.log(f"cleanup failed too: {exc}")
        raise
    _remove(kube, opts, opts.clock() + CLEANUP_SECONDS)
    opts.log("deleted the S3Credential and the S3Bucket")


def _use_key(data: dict[str, str], opts: Options, deadline: float) -> None:
    try:
        key = s3ops.S3Key(data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"], data.get("AWS_REGION", "us-east-1"))
        endpoint = opts.endpoint or data["AWS_ENDPOINT_URL"]
        bucket = data["BUCKET_NAME"]
    except KeyError as exc:
        raise SelfTestFailed(f"the credential's Secret lacks {exc}") from None
    body = os.urandom(1024)
    name = "selftest/object.bin"

    def call(method: str, payload: bytes = b"") -> s3ops.S3Reply:
        return s3ops.request(endpoint, key, method, bucket, name, payload, verify_tls=opts.verify_tls)

    # Ready should mean usable; a short grace for the key to reach the server is reported, not hidden.
    first_try = opts.clock()

    def put() -> s3ops.S3Reply | None:
        reply = call("PUT", body)
        if reply.status == 200:
            return reply
        if reply.code in ("InvalidAccessKeyId", "AccessDenied", "NoSuchBucket"):
            return None
        raise SelfTestFailed(f"PUT s3://{bucket}/{name}: {reply.status} {reply.code or reply.body[:200]!r}")

    try:
        _until(opts, "the PUT", put, deadline)
    except SelfTestFailed as exc:
        raise SelfTestFailed(f"{exc}: the key from the Secret was never accepted at {endpoint}") from None
    opts.timings["put_wait"] = opts.clock() - first_try
    opts.log(f"PUT s3://{bucket}/{name} with the Secret's key ({opts.timings['put_wait']:.1f} s after Ready)")
    got = call("GET")
    if got.status != 200 or got.body != body:
        raise SelfTestFailed(f"GET s3://{bucket}/{name}: {got.status} {got.code}, {len(got.body)} bytes")
    opts.log("GET returned the same bytes")
    deleted = call("DELETE")
    if deleted.status != 204:
        raise SelfTestFailed(f"DELETE s3://{bucket}/{name}: {deleted.status} {deleted.code}")
    gone = call("GET")
    if gone.code != "NoSuchKey":
        raise SelfTestFailed(f"GET after DELETE: {gone.status} {gone.code}, expected NoSuchKey")
    opts.log("DELETE removed it (GET: NoSuchKey)")
