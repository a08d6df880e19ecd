"""The appliance test: the operator path of issue 16, end to end, with a slow kubelet.

Emulated API server, the real operator (``python -m smarts3_operator``), two real servers
configured as the chart configures them, and a stand-in kubelet that syncs mounted Secrets
only 60 s after they change (tests/operator/appliance.py). The kubelet delay is longer than
any wait here: whatever works, works through the operator's push, not the mounted file.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
import yaml
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from smarts3.config.declared import DeclaredConfig
from tests.operator.appliance import CONFIG_SECRET, NAMESPACE, RESYNC_SECONDS, TOKEN_SECRET, Appliance, start
from tests.operator.support import wait_for

APP = "apps"


@pytest.fixture(scope="module")
def appliance() -> Iterator[Appliance]:
    cluster = start()
    try:
        # The operator creates the push token and the (empty) declared configuration at start-up,
        # before the server pods mount them.
        wait_for(lambda: cluster.api.secret_data(NAMESPACE, TOKEN_SECRET), what="the push token Secret")
        wait_for(lambda: cluster.api.secret_data(NAMESPACE, CONFIG_SECRET), what="the declared config Secret")
        for index in range(2):
            cluster.start_replica(index)
        for index in range(2):
            wait_for(lambda i=index: _ready(cluster, i), timeout=30, what=f"server replica {index} ready")
        cluster.publish_endpoints()
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.close()


def _ready(cluster: Appliance, index: int) -> bool:
    try:
        return httpx.get(cluster.ops_url(index) + "/_ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def client(url: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def server_status(cluster: Appliance, index: int) -> dict[str, Any]:
    reply = httpx.get(
        cluster.ops_url(index) + "/_declared/status", headers={"Authorization": f"Bearer {cluster.token()}"}
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def declared(cluster: Appliance) -> DeclaredConfig:
    data = cluster.api.secret_data(NAMESPACE, CONFIG_SECRET) or {}
    return DeclaredConfig.model_validate(yaml.safe_load(data.get("declared.yaml") or "{}") or {})


def condition(obj: dict[str, Any] | None) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return dict(cond)
    return {}


def wait_ready(cluster: Appliance, plural: str, name: str, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = cluster.api.get(plural, APP, name)
        cond = condition(obj)
        if obj and cond.get("status") == "True" and cond.get("observedGeneration") == obj["metadata"]["generation"]:
            return obj
        return None

    return wait_for(probe, timeout=timeout, what=f"{plural} {name} Ready=True")


def test_fresh_install_without_buckets_is_ready(appliance: Appliance) -> None:
    # The fixture waited for /_ready on both replicas with no S3Bucket at all; and the operator's
    # start-up configuration reached them through the push (the kubelet only mounted it at start).
    generation = declared(appliance).generation
    assert generation > 0
    for index in range(2):
        assert httpx.get(appliance.ops_url(index) + "/_ready").status_code == 200
        wait_for(
            lambda i=index: server_status(appliance, i)["generation"] >= generation,
            what=f"replica {index} at generation {generation}",
        )


def test_bucket_and_credential_usable_long_before_the_kubelet_syncs(appliance: Appliance) -> None:
    """The keys work on every replica through the operator's push, not the mounted file: well
    within the kubelet's delay. (About a second on an idle machine, printed; a loaded CI host
    may take several, so the bound is the kubelet's delay, not a latency target.)"""
    started = time.monotonic()
    appliance.api.create("s3buckets", APP, "fast-bucket", {})
    appliance.api.create(
        "s3credentials",
        APP,
        "fast",
        {"secretName": "fast-s3", "buckets": [{"name": "fast-bucket", "access": "readwrite"}]},
    )
    # An application starts once its Secret exists and uses its keys at once.
    data = wait_for(lambda: appliance.api.secret_data(APP, "fast-s3"), what="the app Secret")
    secret_at = time.monotonic() - started

    def put_works() -> bool:
        try:
            for index in range(2):
                client(appliance.s3_url(index), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]).put_object(
                    Bucket=data["BUCKET_NAME"], Key="hello", Body=b"hi"
                )
            return True
        except ClientError:
            return False

    wait_for(put_works, timeout=appliance.kubelet.delay / 2, what="a PUT with the new Secret's keys on every replica")
    usable_at = time.monotonic() - started
    for plural, name in (("s3buckets", "fast-bucket"), ("s3credentials", "fast")):
        obj = wait_ready(appliance, plural, name)
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    ready_at = time.monotonic() - started
    print(f"\napp Secret after {secret_at:.2f}s, PUT works on both replicas after {usable_at:.2f}s, "
          f"both objects Ready after {ready_at:.2f}s (kubelet delay {appliance.kubelet.delay:.0f}s)")
    assert usable_at < appliance.kubelet.delay / 2


def test_ready_means_usable_right_away(appliance: Appliance) -> None:
    """The moment the objects say Ready, the key works on every replica: no retry."""
    appliance.api.create("s3buckets", APP, "ready-bucket", {})
    appliance.api.create(
        "s3credentials",
        APP,
        "ready",
        {"secretName": "ready-s3", "buckets": [{"name": "ready-bucket", "access": "readwrite"}]},
    )
    wait_ready(appliance, "s3buckets", "ready-bucket")
    wait_ready(appliance, "s3credentials", "ready")
    data = appliance.api.secret_data(APP, "ready-s3")
    assert data is not None
    for index in range(2):
        s3 = client(appliance.s3_url(index), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"])
        s3.put_object(Bucket="ready-bucket", Key=f"k{index}", Body=b"x")


def test_rotation_under_traffic_fails_nothing_and_the_old_key_expires(appliance: Appliance) -> None:
    appliance.api.create("s3buckets", APP, "rotating-bucket", {})
    appliance.api.create(
        "s3credentials",
        APP,
        "rot",
        {
            "secretName": "rot-s3",
            "previousKeyTTL": "8s",
            "buckets": [{"name": "rotating-bucket", "access": "readwrite"}],
        },
    )
    wait_ready(appliance, "s3credentials", "rot")
    old = appliance.api.secret_data(APP, "rot-s3")
    assert old is not None
    stop = threading.Event()
    results: dict[str, list[str]] = {"old-key": [], "live-key": []}

    def old_key_app() -> None:
        """An application that read its key once at start and never restarts."""
        s3 = client(appliance.s3_url(0), old["AWS_ACCESS_KEY_ID"], old["AWS_SECRET_ACCESS_KEY"])
        while not stop.is_set():
            try:
                s3.put_object(Bucket="rotating-bucket", Key="old", Body=b"x")
                results["old-key"].append("ok")
            except ClientError as exc:
                results["old-key"].append(exc.response["Error"]["Code"])
            time.sleep(0.05)

    def live_key_app() -> None:
        """An application that takes whatever key its Secret holds now (a restart, or a reloaded file)."""
        clients: dict[str, Any] = {}
        data, read_at = old, 0.0
        while not stop.is_set():
            if time.monotonic() - read_at > 0.5:  # an application that re-reads its Secret twice a second
                data, read_at = appliance.api.secret_data(APP, "rot-s3") or old, time.monotonic()
            key_id = data["AWS_ACCESS_KEY_ID"]
            if key_id not in clients:
                clients[key_id] = client(appliance.s3_url(1), key_id, data["AWS_SECRET_ACCESS_KEY"])
            try:
                clients[key_id].put_object(Bucket="rotating-bucket", Key="live", Body=b"x")
                results["live-key"].append("ok")
            except ClientError as exc:
                results["live-key"].append(exc.response["Error"]["Code"])
            time.sleep(0.05)

    threads = [threading.Thread(target=old_key_app), threading.Thread(target=live_key_app)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(results["old-key"]) > 5 and len(results["live-key"]) > 5, what="traffic")
        rotated_at = time.monotonic()
        appliance.api.patch("s3credentials", APP, "rot", {"metadata": {"annotations": {"smarts3.io/rotate": "1"}}})
        new = wait_for(lambda: _rotated(appliance, old["AWS_ACCESS_KEY_ID"]), what="the rotated key in the Secret")
        # The annotation itself triggers the rotation, not the next resync tick.
        rotation_took = time.monotonic() - rotated_at
        assert rotation_took < RESYNC_SECONDS / 2, rotation_took
        obj = wait_for(lambda: _in_overlap(appliance), what="status.previousKeyExpiresAt")
        # Until the overlap ends the old key works: no failure anywhere.
        while time.monotonic() < rotated_at + 6:
            time.sleep(0.1)
        overlap = {name: list(codes) for name, codes in results.items()}
        assert all(code == "ok" for codes in overlap.values() for code in codes), overlap
        # After it, the old key is refused (and the live application keeps working with the new one).
        wait_for(lambda: results["old-key"][-1] == "InvalidAccessKeyId", what="the old key refused")
        refused_at = time.monotonic() - rotated_at
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert all(code == "ok" for code in results["live-key"]), results["live-key"]
    first_refusal = results["old-key"].index("InvalidAccessKeyId")
    assert all(code == "ok" for code in results["old-key"][:first_refusal])
    assert new["AWS_ACCESS_KEY_ID"] != old["AWS_ACCESS_KEY_ID"]
    print(f"\nrotation: new key in the Secret {rotation_took:.1f}s after the annotation; "
          f"{len(results['old-key'])} old-key and {len(results['live-key'])} live-key PUTs, "
          f"0 failed in the overlap; old key refused {refused_at:.1f}s after the rotation "
          f"(previousKeyTTL 8s, expiry {obj['status']['previousKeyExpiresAt']})")


def _rotated(appliance: Appliance, old_key: str) -> dict[str, str] | None:
    data = appliance.api.secret_data(APP, "rot-s3")
    return data if data and data["AWS_ACCESS_KEY_ID"] != old_key else None


def _in_overlap(appliance: Appliance) -> dict[str, Any] | None:
    obj = appliance.api.get("s3credentials", APP, "rot")
    return obj if obj and obj["status"].get("previousKeyExpiresAt") else None


def test_deleted_config_secret_is_repaired_with_every_key(appliance: Appliance) -> None:
    appliance.api.create("s3buckets", APP, "repair-bucket", {})
    appliance.api.create(
        "s3credentials",
        APP,
        "repair",
        {"secretName": "repair-s3", "buckets": [{"name": "repair-bucket", "access": "readwrite"}]},
    )
    wait_ready(appliance, "s3credentials", "repair")
    before = {(c.name, c.access_key_id) for c in declared(appliance).credentials}
    assert ("apps/repair", appliance.api.secret_data(APP, "repair-s3")["AWS_ACCESS_KEY_ID"]) in before  # type: ignore[index]
    appliance.api.core.delete_namespaced_secret(CONFIG_SECRET, NAMESPACE)
    deleted_at = time.monotonic()
    wait_for(
        lambda: appliance.api.secret_data(NAMESPACE, CONFIG_SECRET),
        what="the config Secret back",
    )
    repaired = time.monotonic() - deleted_at
    after = {(c.name, c.access_key_id) for c in declared(appliance).credentials}
    assert before <= after, before - after
    data = appliance.api.secret_data(APP, "repair-s3")
    assert data is not None
    client(appliance.s3_url(0), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]).put_object(
        Bucket="repair-bucket", Key=uuid.uuid4().hex, Body=b"x"
    )
    print(
        f"\nconfig Secret repaired {repaired:.1f}s after its deletion (resync {RESYNC_SECONDS:g} s), "
        f"{len(after)} credentials kept"
    )


def root_client(appliance: Appliance, index: int) -> Any:
    root = json.loads((appliance.replicas[index].data_dir / ".smarts3/root-credentials.json").read_text())
    return client(appliance.s3_url(index), root["accessKeyId"], root["secretAccessKey"])


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            return False
        raise


def _bound_bucket(appliance: Appliance, name: str, spec: dict[str, Any]) -> dict[str, str]:
    appliance.api.create("s3buckets", APP, name, spec)
    appliance.api.create(
        "s3credentials",
        APP,
        f"{name}-cred",
        {"secretName": f"{name}-s3", "buckets": [{"name": name, "access": "readwrite"}]},
    )
    wait_ready(appliance, "s3buckets", name)
    wait_ready(appliance, "s3credentials", f"{name}-cred")
    data = appliance.api.secret_data(APP, f"{name}-s3")
    assert data is not None
    return data


def _reason(appliance: Appliance, name: str) -> str | None:
    return condition(appliance.api.get("s3buckets", APP, name)).get("reason")


def test_deleting_a_non_empty_bucket_waits_until_it_is_emptied(appliance: Appliance) -> None:
    data = _bound_bucket(appliance, "full-bucket", {"deletionPolicy": "Delete"})
    message = condition(appliance.api.get("s3buckets", APP, "full-bucket"))["message"]
    assert "deletes the bucket once it is empty" in message
    s3 = client(appliance.s3_url(0), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"])
    for key in ("a", "b", "c"):
        s3.put_object(Bucket="full-bucket", Key=key, Body=b"x")
    appliance.api.delete("s3buckets", APP, "full-bucket")
    wait_for(lambda: _reason(appliance, "full-bucket") == "BucketNotEmpty", what="BucketNotEmpty")
    wait_for(
        lambda: any(e.reason == "BucketNotEmpty" for e in appliance.api.events(APP)), timeout=60, what="the Event"
    )
    # The object and the data stay while the bucket holds objects.
    assert appliance.api.get("s3buckets", APP, "full-bucket") is not None
    assert len(root_client(appliance, 0).list_objects_v2(Bucket="full-bucket").get("Contents", [])) == 3
    emptied = time.monotonic()
    root_client(appliance, 0).delete_objects(
        Bucket="full-bucket", Delete={"Objects": [{"Key": k} for k in ("a", "b", "c")]}
    )
    wait_for(lambda: appliance.api.get("s3buckets", APP, "full-bucket") is None, what="the S3Bucket gone")
    print(f"\nemptied bucket deleted and its S3Bucket released {time.monotonic() - emptied:.1f}s after emptying")
    for index in range(2):
        assert not bucket_exists(root_client(appliance, index), "full-bucket")


def test_force_delete_empties_and_deletes(appliance: Appliance) -> None:
    """forceDelete on a versioned bucket: versions and delete markers go too; a version under
    legal hold keeps the bucket (reason ObjectLocked, a Warning Event) until the hold is lifted."""
    data = _bound_bucket(appliance, "forced-bucket", {"deletionPolicy": "Delete"})
    root = root_client(appliance, 1)
    root.put_bucket_versioning(Bucket="forced-bucket", VersioningConfiguration={"Status": "Enabled"})
    root.put_object_lock_configuration(Bucket="forced-bucket", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    s3 = client(appliance.s3_url(1), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"])
    for index in range(20):
        s3.put_object(Bucket="forced-bucket", Key=f"k{index % 5}", Body=b"x")  # 4 versions of 5 keys
    s3.delete_objects(Bucket="forced-bucket", Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}]})  # markers
    root.put_object(Bucket="forced-bucket", Key="held", Body=b"x", ObjectLockLegalHoldStatus="ON")
    upload = s3.create_multipart_upload(Bucket="forced-bucket", Key="unfinished")
    assert upload["UploadId"]
    appliance.api.delete("s3buckets", APP, "forced-bucket")
    wait_for(lambda: _reason(appliance, "forced-bucket") == "BucketNotEmpty", what="BucketNotEmpty")
    appliance.api.patch("s3buckets", APP, "forced-bucket", {"spec": {"forceDelete": True}})
    wait_for(lambda: _reason(appliance, "forced-bucket") == "ObjectLocked", what="ObjectLocked")
    wait_for(lambda: any(e.reason == "ObjectLocked" for e in appliance.api.events(APP)), what="the Event")
    listing = root.list_object_versions(Bucket="forced-bucket")
    assert [v["Key"] for v in listing.get("Versions", [])] == ["held"]
    assert "DeleteMarkers" not in listing
    root.put_object_legal_hold(Bucket="forced-bucket", Key="held", LegalHold={"Status": "OFF"})
    wait_for(lambda: appliance.api.get("s3buckets", APP, "forced-bucket") is None, what="S3Bucket gone")
    for index in range(2):
        assert not bucket_exists(root_client(appliance, index), "forced-bucket")


def test_retain_says_so_and_keeps_the_data(appliance: Appliance) -> None:
    data = _bound_bucket(appliance, "kept-bucket", {})
    message = condition(appliance.api.get("s3buckets", APP, "kept-bucket"))["message"]
    assert "deleting this S3Bucket keeps the bucket and its objects" in message
    client(appliance.s3_url(0), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]).put_object(
        Bucket="kept-bucket", Key="keep", Body=b"data"
    )
    appliance.api.delete("s3buckets", APP, "kept-bucket")
    wait_for(lambda: appliance.api.get("s3buckets", APP, "kept-bucket") is None, what="S3Bucket gone")
    assert root_client(appliance, 0).get_object(Bucket="kept-bucket", Key="keep")["Body"].read() == b"data"


def test_cross_namespace_reference_is_refused_until_granted(appliance: Appliance) -> None:
    appliance.api.create("s3buckets", APP, "shared-lake", {})
    wait_ready(appliance, "s3buckets", "shared-lake")
    appliance.api.create(
        "s3credentials",
        "analytics",
        "reader",
        {"secretName": "reader-s3", "buckets": [{"name": "shared-lake", "namespace": APP, "access": "read"}]},
    )

    def reason() -> str | None:
        return condition(appliance.api.get("s3credentials", "analytics", "reader")).get("reason")

    wait_for(lambda: reason() == "RefNotPermitted", what="RefNotPermitted")
    data = wait_for(lambda: appliance.api.secret_data("analytics", "reader-s3"), what="the app Secret")
    s3 = client(appliance.s3_url(0), data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(ClientError) as refused:
        s3.list_objects_v2(Bucket="shared-lake")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    grant = {"bucket": "shared-lake", "from": [{"namespace": "analytics"}]}
    appliance.api.create("s3bucketgrants", APP, "lake-to-analytics", grant)
    granted = time.monotonic()
    wait_for(lambda: reason() == "SecretWritten", what="the credential Ready once granted")
    s3.list_objects_v2(Bucket="shared-lake")
    print(f"\ncross-namespace reference Ready {time.monotonic() - granted:.1f}s after the S3BucketGrant")


def test_bucket_name_taken_in_another_namespace(appliance: Appliance) -> None:
    appliance.api.create("s3buckets", APP, "first-claim", {"bucketName": "contested-name"})
    wait_ready(appliance, "s3buckets", "first-claim")
    appliance.api.create("s3buckets", "late-team", "second-claim", {"bucketName": "contested-name"})
    wait_for(
        lambda: condition(appliance.api.get("s3buckets", "late-team", "second-claim")).get("reason") == "NameTaken",
        what="NameTaken on the later S3Bucket",
    )
    assert condition(appliance.api.get("s3buckets", APP, "first-claim"))["status"] == "True"
