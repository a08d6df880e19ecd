"""The operator running for real (kopf) against the kmock API emulator."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest
import yaml

from smarts3.config.declared import DeclaredConfig
from tests.operator.support import CONFIG_NAMESPACE, CONFIG_SECRET, ENDPOINT, Api, wait_event, wait_for

pytestmark = pytest.mark.usefixtures("operator")


def declared(api: Api) -> DeclaredConfig:
    secret = api.secret(CONFIG_NAMESPACE, CONFIG_SECRET)
    if secret is None or not secret.data:
        return DeclaredConfig()
    return DeclaredConfig.model_validate(yaml.safe_load(base64.b64decode(secret.data["declared.yaml"])))


def secret_data(secret: Any) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def ready(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Ready condition of ``obj``, if any."""
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready":
            return dict(condition)
    return None


def wait_ready(
    api: Api, plural: str, ns: str, name: str, status: str = "True", reason: str | None = None
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = api.get(plural, ns, name)
        cond = ready(obj)
        if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
            return obj
        return None

    return wait_for(probe, what=f"{plural} {ns}/{name} Ready={status} {reason or ''}")


def bucket_entry(api: Api, name: str) -> Any:
    return next((b for b in declared(api).buckets if b.name == name), None)


def credential_entry(api: Api, ns: str, name: str) -> Any:
    return next((c for c in declared(api).credentials if c.name == f"{ns}/{name}"), None)


def test_bucket_is_declared_with_status_and_finalizer(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "photos-op", {})
    obj = wait_ready(api, "s3buckets", namespace, "photos-op", reason="Declared")
    assert obj["status"]["bucketName"] == "photos-op"
    assert obj["status"]["endpoint"] == ENDPOINT
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert "smarts3.io/finalizer" in obj["metadata"]["finalizers"]
    entry = wait_for(lambda: bucket_entry(api, "photos-op"), what="declared bucket")
    assert entry.public_read is False
    assert entry.deletion_policy.value == "Retain"


def test_bucket_update_reaches_declared_config(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "update-me", {"bucketName": "updated-bucket"})
    wait_ready(api, "s3buckets", namespace, "update-me")
    cors = [{"allowedOrigins": ["https://a.example"], "allowedMethods": ["GET"], "maxAgeSeconds": 60}]
    api.patch("s3buckets", namespace, "update-me", {"spec": {"publicRead": True, "cors": cors}})

    def updated() -> Any:
        entry = bucket_entry(api, "updated-bucket")
        return entry if entry is not None and entry.public_read and entry.cors else None

    entry = wait_for(updated, what="publicRead and cors in the declared config")
    assert entry.cors[0].allowed_origins == ["https://a.example"]
    assert entry.cors[0].max_age_seconds == 60

    def observed() -> Any:
        obj = api.get("s3buckets", namespace, "update-me")
        assert obj is not None
        return obj["status"].get("observedGeneration") == obj["metadata"]["generation"] == 2

    wait_for(observed, what="observedGeneration 2")


@pytest.mark.parametrize(
    ("name", "spec", "fragment"),
    [
        ("ip-bucket", {"bucketName": "192.168.10.1"}, "IP address"),
        ("xn--punycode", {}, "reserved"),
        ("bad-cors", {"cors": [{"allowedOrigins": ["*"], "allowedMethods": ["PATCH"]}]}, "cors"),
    ],
)
def test_invalid_bucket_gets_permanent_condition(
    api: Api, namespace: str, name: str, spec: dict[str, Any], fragment: str
) -> None:
    api.create("s3buckets", namespace, name, spec)
    obj = wait_ready(api, "s3buckets", namespace, name, status="False", reason="InvalidSpec")
    assert fragment in ready(obj)["message"]  # type: ignore[index]
    assert all(b.name not in (name, "192.168.10.1") for b in declared(api).buckets)
    wait_event(api, namespace, "InvalidSpec")


def test_credential_writes_app_secret_and_declared_entry(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "app-data", {})
    cred = api.create(
        "s3credentials",
        namespace,
        "app",
        {"secretName": "app-s3", "buckets": [{"name": "app-data", "access": "readwrite"}]},
    )
    obj = wait_ready(api, "s3credentials", namespace, "app", reason="SecretWritten")
    secret = api.secret(namespace, "app-s3")
    data = secret_data(secret)
    # The AWS SDK variables, Rook's bucket keys and COSI's (v1alpha1 BucketInfo, v1alpha2 COSI_*).
    assert set(data) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "BUCKET_HOST",
        "BUCKET_PORT",
        "BUCKET_NAME",
        "BUCKET_NAME_0",
        "BucketInfo",
        "COSI_PROTOCOL",
        "COSI_S3_ENDPOINT",
        "COSI_S3_REGION",
        "COSI_S3_ADDRESSING_STYLE",
        "COSI_S3_BUCKET_ID",
        "COSI_S3_ACCESS_KEY_ID",
        "COSI_S3_ACCESS_SECRET_KEY",
    }
    assert data["AWS_ENDPOINT_URL"] == data["COSI_S3_ENDPOINT"] == ENDPOINT
    assert data["AWS_REGION"] == data["COSI_S3_REGION"] == "us-east-1"
    assert (data["BUCKET_HOST"], data["BUCKET_PORT"]) == ("smarts3.smarts3-system.svc", "9000")
    assert data["BUCKET_NAME"] == data["BUCKET_NAME_0"] == data["COSI_S3_BUCKET_ID"] == "app-data"
    assert data["COSI_S3_ACCESS_KEY_ID"] == data["AWS_ACCESS_KEY_ID"]
    info = json.loads(data["BucketInfo"])["spec"]
    assert (info["bucketName"], info["authenticationType"], info["protocols"]) == ("app-data", "KEY", ["s3"])
    assert info["secretS3"]["accessKeyID"] == data["AWS_ACCESS_KEY_ID"]
    assert info["secretS3"]["accessSecretKey"] == data["AWS_SECRET_ACCESS_KEY"]
    assert len(data["AWS_SECRET_ACCESS_KEY"]) == 40
    assert obj["status"]["accessKeyId"] == data["AWS_ACCESS_KEY_ID"]
    assert obj["status"]["secretName"] == "app-s3"
    (owner,) = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "S3Credential",
        "app",
        cred["metadata"]["uid"],
        True,
    )
    assert "smarts3.io/finalizer" in obj["metadata"]["finalizers"]

    entry = credential_entry(api, namespace, "app")
    assert entry.access_key_id == data["AWS_ACCESS_KEY_ID"]
    assert entry.secret_access_key.get_secret_value() == data["AWS_SECRET_ACCESS_KEY"]
    assert [(g.bucket, g.access.value) for g in entry.grants] == [("app-data", "readwrite")]
    wait_event(api, namespace, "KeyGenerated")


def test_create_buckets_reaches_the_declared_entry(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "maker-data", {})
    spec = {"secretName": "maker-s3", "buckets": [{"name": "maker-data", "access": "read"}], "createBuckets": True}
    api.create("s3credentials", namespace, "maker", spec)
    wait_ready(api, "s3credentials", namespace, "maker", reason="SecretWritten")
    assert credential_entry(api, namespace, "maker").create_buckets is True
    api.create("s3credentials", namespace, "plain", {**spec, "secretName": "plain-s3", "createBuckets": False})
    wait_ready(api, "s3credentials", namespace, "plain", reason="SecretWritten")
    assert credential_entry(api, namespace, "plain").create_buckets is False


def test_key_survives_updates_and_rotates_on_annotation(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "rot-a", {})
    api.create("s3buckets", namespace, "rot-b", {})
    api.create(
        "s3credentials", namespace, "rot", {"secretName": "rot-s3", "buckets": [{"name": "rot-a", "access": "read"}]}
    )
    wait_ready(api, "s3credentials", namespace, "rot")
    first = secret_data(api.secret(namespace, "rot-s3"))

    # A spec change keeps the key and updates grants; two buckets: BUCKET_NAME_0 and _1.
    api.patch(
        "s3credentials",
        namespace,
        "rot",
        {"spec": {"buckets": [{"name": "rot-a", "access": "read"}, {"name": "rot-b", "access": "write"}]}},
    )

    def two_grants() -> Any:
        entry = credential_entry(api, namespace, "rot")
        return entry if entry is not None and len(entry.grants) == 2 else None

    entry = wait_for(two_grants, what="two grants")
    assert {(g.bucket, g.access.value) for g in entry.grants} == {("rot-a", "read"), ("rot-b", "write")}
    second = wait_for(lambda: (d := secret_data(api.secret(namespace, "rot-s3"))) and "BUCKET_NAME_1" in d and d)
    assert (second["BUCKET_NAME"], second["BUCKET_NAME_0"], second["BUCKET_NAME_1"]) == ("rot-a", "rot-a", "rot-b")
    assert second["AWS_ACCESS_KEY_ID"] == first["AWS_ACCESS_KEY_ID"]
    assert second["AWS_SECRET_ACCESS_KEY"] == first["AWS_SECRET_ACCESS_KEY"]

    # The rotate annotation gives a new pair, in the app Secret and in the server's config.
    api.patch("s3credentials", namespace, "rot", {"metadata": {"annotations": {"smarts3.io/rotate": "2026-01"}}})
    rotated = wait_for(
        lambda: (
            (d := secret_data(api.secret(namespace, "rot-s3")))["AWS_ACCESS_KEY_ID"] != first["AWS_ACCESS_KEY_ID"] and d
        ),
        what="a rotated key",
    )
    assert rotated["AWS_SECRET_ACCESS_KEY"] != first["AWS_SECRET_ACCESS_KEY"]
    wait_for(
        lambda: credential_entry(api, namespace, "rot").access_key_id == rotated["AWS_ACCESS_KEY_ID"],
        what="the rotated key in the declared config",
    )
    # The old key stays valid (default overlap 10 minutes), with the same grants, and says until when.
    (previous,) = [c for c in declared(api).credentials if c.access_key_id == first["AWS_ACCESS_KEY_ID"]]
    assert previous.name == f"{namespace}/rot@previous"
    assert {(g.bucket, g.access.value) for g in previous.grants} == {("rot-a", "read"), ("rot-b", "write")}
    assert rotated["PREVIOUS_AWS_ACCESS_KEY_ID"] == first["AWS_ACCESS_KEY_ID"]
    status = wait_for(
        lambda: (
            (st := (api.get("s3credentials", namespace, "rot") or {}).get("status", {})).get("previousAccessKeyId")
            and st
        ),
        what="the previous key in the status",
    )
    assert status["previousAccessKeyId"] == first["AWS_ACCESS_KEY_ID"]
    assert status["previousKeyExpiresAt"] > status["conditions"][0]["lastTransitionTime"]
    wait_event(api, namespace, "KeyRotated")


def test_deleted_app_secret_is_restored_with_the_same_key(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "drift", {})
    api.create(
        "s3credentials",
        namespace,
        "drift",
        {"secretName": "drift-s3", "buckets": [{"name": "drift", "access": "read"}]},
    )
    wait_ready(api, "s3credentials", namespace, "drift")
    before = secret_data(api.secret(namespace, "drift-s3"))
    api.core.delete_namespaced_secret("drift-s3", namespace)
    assert api.secret(namespace, "drift-s3") is None
    # No event touches the S3Credential: only the drift-repair timer can bring it back.
    restored = wait_for(lambda: api.secret(namespace, "drift-s3"), what="the restored Secret")
    assert secret_data(restored) == before
    wait_event(api, namespace, "SecretRestored")


def test_credential_waits_for_missing_bucket(api: Api, namespace: str) -> None:
    api.create(
        "s3credentials",
        namespace,
        "early",
        {"secretName": "early-s3", "buckets": [{"name": "later", "access": "read"}]},
    )
    obj = wait_ready(api, "s3credentials", namespace, "early", status="False", reason="BucketNotFound")
    assert "later" in ready(obj)["message"]  # type: ignore[index]
    entry = wait_for(lambda: credential_entry(api, namespace, "early"), what="credential entry")
    assert entry.grants == []
    api.create("s3buckets", namespace, "later", {})
    wait_ready(api, "s3credentials", namespace, "early", reason="SecretWritten")
    assert [g.bucket for g in credential_entry(api, namespace, "early").grants] == ["later"]
    assert secret_data(api.secret(namespace, "early-s3"))["BUCKET_NAME"] == "later"


def test_foreign_secret_is_not_overwritten(api: Api, namespace: str) -> None:
    api.core.create_namespaced_secret(namespace, {"metadata": {"name": "taken"}, "data": {"x": "eQ=="}})
    api.create("s3buckets", namespace, "taken-b", {})
    api.create(
        "s3credentials", namespace, "taker", {"secretName": "taken", "buckets": [{"name": "taken-b", "access": "read"}]}
    )
    wait_ready(api, "s3credentials", namespace, "taker", status="False", reason="SecretConflict")
    assert secret_data(api.secret(namespace, "taken")) == {"x": "y"}


def test_deleting_a_credential_revokes_key_and_secret(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "gone-b", {})
    api.create(
        "s3credentials", namespace, "gone", {"secretName": "gone-s3", "buckets": [{"name": "gone-b", "access": "read"}]}
    )
    wait_ready(api, "s3credentials", namespace, "gone")
    api.delete("s3credentials", namespace, "gone")
    wait_for(lambda: api.get("s3credentials", namespace, "gone") is None, what="finalizer released")
    assert api.secret(namespace, "gone-s3") is None
    assert credential_entry(api, namespace, "gone") is None
    assert bucket_entry(api, "gone-b") is not None


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_deleting_a_bucket_removes_its_entry(api: Api, namespace: str, policy: str) -> None:
    name = f"bye-{policy.lower()}"
    api.create("s3buckets", namespace, name, {"deletionPolicy": policy})
    wait_ready(api, "s3buckets", namespace, name)
    entry = wait_for(lambda: bucket_entry(api, name), what="declared bucket")
    assert entry.deletion_policy.value == policy
    api.delete("s3buckets", namespace, name)
    wait_for(lambda: api.get("s3buckets", namespace, name) is None, what="finalizer released")
    assert bucket_entry(api, name) is None
    reason = {"Delete": "DeletionRequested", "Retain": "Retained"}[policy]
    wait_event(api, namespace, reason)


def test_bucket_name_conflict_across_namespaces(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace + "-a", "shared", {"bucketName": "shared-name"})
    wait_ready(api, "s3buckets", namespace + "-a", "shared")
    api.create("s3buckets", namespace + "-b", "shared", {"bucketName": "shared-name"})
    obj = wait_ready(api, "s3buckets", namespace + "-b", "shared", status="False", reason="NameTaken")
    assert f"{namespace}-a/shared" in ready(obj)["message"]  # type: ignore[index]
    assert [b.name for b in declared(api).buckets].count("shared-name") == 1


def _entries(api: Api, namespace: str) -> dict[str, tuple[str, str]]:
    """This namespace's credential entries in the declared config: name -> (key id, secret)."""
    try:
        config = declared(api)
    except (ValueError, yaml.YAMLError):
        return {}  # corrupted: nothing readable
    return {
        c.name: (c.access_key_id, c.secret_access_key.get_secret_value())
        for c in config.credentials
        if c.name.startswith(namespace + "/")
    }


def test_config_secret_is_rebuilt_from_the_custom_resources(api: Api, namespace: str) -> None:
    api.create("s3buckets", namespace, "src", {})
    for name in ("one", "two"):
        api.create(
            "s3credentials",
            namespace,
            name,
            {"secretName": f"{name}-s3", "buckets": [{"name": "src", "access": "read"}]},
        )
        wait_ready(api, "s3credentials", namespace, name)
    # One credential in a rotation overlap: its old key must survive a rebuild too.
    api.patch("s3credentials", namespace, "two", {"metadata": {"annotations": {"smarts3.io/rotate": "r1"}}})
    wait_for(lambda: f"{namespace}/two@previous" in _entries(api, namespace), what="the previous key entry")
    before = _entries(api, namespace)
    assert set(before) == {f"{namespace}/one", f"{namespace}/two", f"{namespace}/two@previous"}
    assert before[f"{namespace}/one"][0] == secret_data(api.secret(namespace, "one-s3"))["AWS_ACCESS_KEY_ID"]

    # Deleted, and a change arrives at once: the rebuild has no old config to read from.
    api.core.delete_namespaced_secret(CONFIG_SECRET, CONFIG_NAMESPACE)
    api.create("s3buckets", namespace, "src-2", {})
    wait_for(lambda: bucket_entry(api, "src-2"), what="the rebuilt config with the new bucket")
    assert _entries(api, namespace) == before

    # Corrupted, with no change at all: the drift-repair timer rewrites it.
    garbage = base64.b64encode(b"credentials: [oops").decode()
    corrupted = api.core.patch_namespaced_secret(CONFIG_SECRET, CONFIG_NAMESPACE, {"data": {"declared.yaml": garbage}})
    assert corrupted.data["declared.yaml"] == garbage
    wait_for(lambda: _entries(api, namespace) == before, what="the repaired config with every key")


def test_liveness_endpoint(liveness_url: str) -> None:
    def healthy() -> Any:
        # A busy operator may answer a probe late: that is a slow answer to retry, not a failure.
        try:
            with urllib.request.urlopen(liveness_url, timeout=15) as reply:
                return reply.status == 200 and json.loads(reply.read())
        except (TimeoutError, OSError):
            return None

    probes = wait_for(healthy, what="the liveness endpoint")
    assert "declaredConfigAge" in probes
