"""Pure functions of the operator: planning, rendering, key choice, patches, settings."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
import yaml

from smarts3.config.declared import DeclaredConfig
from smarts3_operator.render import (
    PREVIOUS_EXPIRES_ANNOTATION,
    ROTATION_ANNOTATION,
    BucketObject,
    CredentialObject,
    GrantObject,
    KeyPair,
    KeySet,
    app_secret,
    choose_keys,
    dump_declared,
    generate_keys,
    keys_from_declared,
    load_declared,
    plan,
    secret_key_set,
    secret_patch,
)
from smarts3_operator.settings import OperatorSettings
from smarts3_operator.specs import InvalidSpec, parse_bucket, parse_credential, parse_duration, parse_grant
from smarts3_operator.status import set_condition

KEYS = KeyPair("SKAAAAAAAAAAAAAAAAAA", "s" * 40)
OLD = KeyPair("SKOOOOOOOOOOOOOOOOOO", "o" * 40)
NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)
CURRENT = KeySet(KEYS)


def bucket(ns: str, name: str, created: str = "2026-01-01T00:00:00Z", **spec: object) -> BucketObject:
    return BucketObject(namespace=ns, name=name, created=created, spec=parse_bucket(spec))


def cred(ns: str, name: str, *refs: tuple[str, str], keys: KeySet | None = CURRENT) -> CredentialObject:
    spec = parse_credential({"secretName": f"{name}-s3", "buckets": [{"name": n, "access": a} for n, a in refs]})
    return CredentialObject(namespace=ns, name=name, spec=spec, keys=keys)


def test_plan_oldest_claims_a_bucket_name_whatever_the_order() -> None:
    old = bucket("b", "x", created="2026-01-01T00:00:00Z", bucketName="shared")
    new = bucket("a", "y", created="2026-02-01T00:00:00Z", bucketName="shared")
    for order in ([old, new], [new, old]):
        result = plan(order, [])
        assert [b.name for b in result.config.buckets] == ["shared"]
        assert result.bucket_names == {("b", "x"): "shared"}
        assert "S3Bucket b/x" in result.conflicts[("a", "y")]


def _shared(ns: str, bucket_name: str, *sources: dict[str, object]) -> GrantObject:
    return GrantObject(ns, f"share-{bucket_name}", parse_grant({"bucket": bucket_name, "from": list(sources)}))


def test_plan_cross_namespace_refs_need_a_grant_in_the_buckets_namespace() -> None:
    buckets = [bucket("data", "lake", bucketName="the-lake")]
    spec = parse_credential(
        {"secretName": "s", "buckets": [{"name": "lake", "namespace": "data", "access": "read"}]}
    )
    reader = CredentialObject(namespace="apps", name="reader", spec=spec, keys=CURRENT)
    refused = plan(buckets, [reader])
    assert refused.refused == {("apps", "reader"): ("data/lake",)}
    assert refused.config.credentials[0].grants == []
    # A grant for another namespace, or for other credentials of this one, does not count.
    assert plan(buckets, [reader], [_shared("data", "lake", {"namespace": "other"})]).refused
    assert plan(buckets, [reader], [_shared("data", "lake", {"namespace": "apps", "credentials": ["x"]})]).refused
    # Nor does a grant in the credential's own namespace.
    assert plan(buckets, [reader], [_shared("apps", "lake", {"namespace": "apps"})]).refused
    for grant in (_shared("data", "lake", {"namespace": "apps"}),
                  _shared("data", "lake", {"namespace": "apps", "credentials": ["reader"]})):
        allowed = plan(buckets, [reader], [grant])
        assert allowed.refused == {}
        assert [(g.bucket, g.access.value) for g in allowed.config.credentials[0].grants] == [("the-lake", "read")]


def test_plan_lists_deleting_delete_policy_buckets_unless_the_name_is_claimed() -> None:
    gone = BucketObject("a", "gone", "2026-01-01T00:00:00Z", parse_bucket({"deletionPolicy": "Delete"}), deleting=True)
    forced = BucketObject(
        "a", "forced", "2026-01-01T00:00:00Z", parse_bucket({"deletionPolicy": "Delete", "forceDelete": True}), True
    )
    kept = BucketObject("a", "kept", "2026-01-01T00:00:00Z", parse_bucket({}), deleting=True)
    loser_spec = parse_bucket({"bucketName": "taken", "deletionPolicy": "Delete"})
    loser = BucketObject("b", "x", "2026-01-01T00:00:00Z", loser_spec, deleting=True)
    result = plan([gone, forced, kept, loser, bucket("c", "y", bucketName="taken")], [])
    assert [(d.name, d.force) for d in result.config.deletions] == [("forced", True), ("gone", False)]


def test_plan_grants_stay_in_the_namespace() -> None:
    result = plan(
        [bucket("a", "data"), bucket("b", "other", bucketName="other-b")],
        [cred("a", "app", ("data", "read"), ("other", "write")), cred("a", "nokeys", ("data", "read"), keys=None)],
    )
    (entry,) = result.config.credentials
    assert entry.name == "a/app"
    assert [(g.bucket, g.access.value) for g in entry.grants] == [("data", "read")]
    assert result.missing == {("a", "app"): ("other",)}


def test_plan_leaves_out_deleting_objects() -> None:
    deleting = BucketObject("a", "gone", "2026-01-01T00:00:00Z", parse_bucket({}), deleting=True)
    assert plan([deleting], []).config.buckets == []


def test_dump_round_trips_through_the_server_model() -> None:
    result = plan(
        [bucket("a", "data", publicRead=True, deletionPolicy="Delete")], [cred("a", "app", ("data", "readwrite"))]
    )
    text = dump_declared(result.config)
    assert text.startswith("# Written by smarts3-operator")
    parsed = DeclaredConfig.model_validate(yaml.safe_load(text))
    assert parsed == result.config
    assert yaml.safe_load(text)["credentials"][0]["secretAccessKey"] == KEYS.secret_access_key
    assert load_declared(text) == parsed
    assert load_declared("not: [valid") == DeclaredConfig()
    assert load_declared(None) == DeclaredConfig()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"bucketName": "a..b"}, "'..'"),
        ({"deletionPolicy": "Purge"}, "deletionPolicy"),
        ({"cors": [{"allowedOrigins": [], "allowedMethods": ["GET"]}]}, "allowedOrigins"),
    ],
)
def test_invalid_bucket_specs(spec: dict[str, object], fragment: str) -> None:
    from smarts3_operator.render import bucket_name_for

    with pytest.raises(InvalidSpec, match=fragment):
        bucket_name_for("ok-name", parse_bucket(spec))


def test_invalid_credential_specs() -> None:
    with pytest.raises(InvalidSpec, match="once"):
        parse_credential({"secretName": "s", "buckets": [{"name": "b", "access": "read"}] * 2})
    with pytest.raises(InvalidSpec, match="access"):
        parse_credential({"secretName": "s", "buckets": [{"name": "b", "access": "admin"}]})


def _secret(keys: KeyPair, token: str, previous: KeyPair | None = None, expires: str = "") -> dict[str, object]:
    enc = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    data = {"AWS_ACCESS_KEY_ID": enc(keys.access_key_id), "AWS_SECRET_ACCESS_KEY": enc(keys.secret_access_key)}
    annotations = {ROTATION_ANNOTATION: token}
    if previous is not None:
        data["PREVIOUS_AWS_ACCESS_KEY_ID"] = enc(previous.access_key_id)
        data["PREVIOUS_AWS_SECRET_ACCESS_KEY"] = enc(previous.secret_access_key)
        annotations[PREVIOUS_EXPIRES_ANNOTATION] = expires
    return {"metadata": {"annotations": annotations}, "data": data}


def test_choose_keys() -> None:
    other = KeySet(KeyPair("SKBBBBBBBBBBBBBBBBBB", "t" * 40))
    opts = {"now": NOW, "overlap": 10 * MINUTE}
    assert choose_keys(_secret(KEYS, ""), "", other, **opts) == (KeySet(KEYS), "kept")
    assert choose_keys(None, "", other, **opts) == (other, "restored")
    assert choose_keys({"metadata": {}, "data": {}}, "", other, **opts) == (other, "restored")
    fresh, how = choose_keys(None, "", None, **opts)
    assert how == "generated" and fresh.current != KEYS and fresh.previous is None


def test_rotation_keeps_the_old_key_for_the_overlap() -> None:
    new, how = choose_keys(_secret(KEYS, ""), "2026-01", None, now=NOW, overlap=10 * MINUTE)
    assert how == "rotated" and new.current not in (KEYS, OLD)
    assert (new.previous, new.previous_expires_at) == (KEYS, NOW + 10 * MINUTE)
    # No overlap asked for: the old key goes at once.
    assert choose_keys(_secret(KEYS, ""), "2026-01", None, now=NOW, overlap=datetime.timedelta(0))[0].previous is None
    # Within the overlap the Secret's previous pair is kept; after it, dropped ("expired").
    during = _secret(KEYS, "t", previous=OLD, expires="2026-03-01T12:05:00Z")
    assert choose_keys(during, "t", None, now=NOW, overlap=MINUTE) == (
        KeySet(KEYS, OLD, NOW + 5 * MINUTE),
        "kept",
    )
    assert choose_keys(during, "t", None, now=NOW + 5 * MINUTE, overlap=MINUTE) == (KeySet(KEYS), "expired")
    # A second rotation during the overlap: the current key becomes the previous one.
    again, _ = choose_keys(during, "t2", None, now=NOW, overlap=MINUTE)
    assert again.previous == KEYS and again.previous_expires_at == NOW + MINUTE


def test_secret_key_set_drops_an_expired_or_unreadable_previous_key() -> None:
    assert secret_key_set(_secret(KEYS, "", OLD, "2026-03-01T12:00:01Z"), NOW) == KeySet(
        KEYS, OLD, NOW + datetime.timedelta(seconds=1)
    )
    assert secret_key_set(_secret(KEYS, "", OLD, "2026-03-01T12:00:00Z"), NOW) == KeySet(KEYS)
    assert secret_key_set(_secret(KEYS, "", OLD, "garbage"), NOW) == KeySet(KEYS)
    assert secret_key_set({"data": {}}, NOW) is None


def test_plan_declares_the_previous_key_with_the_same_grants() -> None:
    keys = KeySet(KEYS, OLD, NOW + MINUTE)
    result = plan([bucket("a", "data")], [cred("a", "app", ("data", "write"), keys=keys)])
    current, previous = result.config.credentials
    assert (current.name, current.access_key_id) == ("a/app", KEYS.access_key_id)
    assert (previous.name, previous.access_key_id) == ("a/app@previous", OLD.access_key_id)
    assert previous.grants == current.grants
    # One identity for both keys: the buckets the credential owns stay its own during the overlap.
    assert (current.identity, previous.identity) == (None, "a/app")
    # Read back from the file the server gets: both pairs, so a reconcile sees no change.
    assert keys.same_keys(keys_from_declared(load_declared(dump_declared(result.config)), "a", "app"))


def test_plan_passes_create_buckets_to_every_key_of_the_credential() -> None:
    spec = parse_credential({"secretName": "s", "buckets": [{"name": "data", "access": "read"}],
                             "createBuckets": True})
    keys = KeySet(KEYS, OLD, NOW + MINUTE)
    result = plan([bucket("a", "data")], [CredentialObject(namespace="a", name="app", spec=spec, keys=keys)])
    assert [c.create_buckets for c in result.config.credentials] == [True, True]
    plain = plan([bucket("a", "data")], [cred("a", "app", ("data", "read"))])
    assert [c.create_buckets for c in plain.config.credentials] == [False]
    assert "createBuckets: true" in dump_declared(result.config)


def test_previous_key_ttl_is_a_duration() -> None:
    assert parse_duration("1h30m") == 90 * MINUTE
    assert parse_duration("3s") == datetime.timedelta(seconds=3)
    spec = {"secretName": "s", "buckets": [{"name": "b", "access": "read"}]}
    assert parse_credential(spec).previous_key_ttl == 10 * MINUTE
    assert parse_credential({**spec, "previousKeyTTL": "0s"}).previous_key_ttl == datetime.timedelta(0)
    for bad in ("", "5d", "m", "10"):
        with pytest.raises(InvalidSpec, match="previousKeyTTL"):
            parse_credential({**spec, "previousKeyTTL": bad})


def test_generated_keys_look_like_aws_keys() -> None:
    pairs = {generate_keys() for _ in range(50)}
    assert len(pairs) == 50
    for pair in pairs:
        assert len(pair.access_key_id) == 20 and pair.access_key_id.isalnum() and pair.access_key_id.isupper()
        assert len(pair.secret_access_key) == 40 and pair.secret_access_key.isalnum()
        assert pair.secret_access_key not in repr(pair)


def _app(endpoint: str, bucket_names: dict[str, str], *names: str, keys: KeySet = CURRENT) -> dict[str, str]:
    spec = parse_credential({"secretName": "app-s3", "buckets": [{"name": n, "access": "read"} for n in names]})
    body = app_secret(
        namespace="a",
        credential="app",
        credential_uid="u-1",
        spec=spec,
        keys=keys,
        rotation="",
        endpoint=endpoint,
        region="eu-west-1",
        bucket_names=bucket_names,
    )
    return {k: base64.b64decode(v).decode() for k, v in body["data"].items()}


def test_app_secret_keys_for_sdks_rook_and_cosi() -> None:
    data = _app("http://s3.ns.svc:9000", {"one": "bucket-one", "two": "bucket-two"}, "zero", "one", "two")
    assert data["AWS_ACCESS_KEY_ID"] == KEYS.access_key_id and data["AWS_REGION"] == "eu-west-1"
    assert (data["BUCKET_HOST"], data["BUCKET_PORT"]) == ("s3.ns.svc", "9000")
    # "zero" is not declared yet: BUCKET_NAME is the first bound bucket, N is the spec position.
    assert data["BUCKET_NAME"] == "bucket-one"
    assert (data["BUCKET_NAME_1"], data["BUCKET_NAME_2"]) == ("bucket-one", "bucket-two")
    assert "BUCKET_NAME_0" not in data
    assert {k: v for k, v in data.items() if k.startswith("COSI_")} == {
        "COSI_PROTOCOL": "S3",
        "COSI_S3_ENDPOINT": "http://s3.ns.svc:9000",
        "COSI_S3_REGION": "eu-west-1",
        "COSI_S3_ADDRESSING_STYLE": "path",
        "COSI_S3_BUCKET_ID": "bucket-one",
        "COSI_S3_ACCESS_KEY_ID": KEYS.access_key_id,
        "COSI_S3_ACCESS_SECRET_KEY": KEYS.secret_access_key,
    }
    info = json.loads(data["BucketInfo"])
    assert info["spec"] == {
        "bucketName": "bucket-one",
        "authenticationType": "KEY",
        "protocols": ["s3"],
        "secretAzure": None,
        "secretS3": {
            "endpoint": "http://s3.ns.svc:9000",
            "region": "eu-west-1",
            "accessKeyID": KEYS.access_key_id,
            "accessSecretKey": KEYS.secret_access_key,
        },
    }
    assert "PREVIOUS_AWS_ACCESS_KEY_ID" not in data


def test_app_secret_without_bound_buckets_or_port() -> None:
    data = _app("https://s3.example.com", {}, "later")
    assert (data["BUCKET_HOST"], data["BUCKET_PORT"]) == ("s3.example.com", "443")
    assert not {"BUCKET_NAME", "BucketInfo", "COSI_S3_BUCKET_ID"} & set(data)
    assert data["COSI_S3_ACCESS_KEY_ID"] == KEYS.access_key_id
    assert _app("http://s3", {}, "later")["BUCKET_PORT"] == "80"


def test_app_secret_and_patch() -> None:
    spec = parse_credential({"secretName": "app-s3", "buckets": [{"name": "data", "access": "read"}]})
    args = {
        "namespace": "a",
        "credential": "app",
        "credential_uid": "u-1",
        "spec": spec,
        "rotation": "",
        "endpoint": "http://s3:9000",
        "region": "eu-west-1",
        "bucket_names": {"data": "data-bucket"},
    }
    body = app_secret(keys=KeySet(KEYS), **args)  # type: ignore[arg-type]
    data = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert data["BUCKET_NAME"] == "data-bucket" and data["AWS_REGION"] == "eu-west-1"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert secret_patch(body, body) == {}
    existing = {**body, "data": {**body["data"], "EXTRA": "eA=="}, "metadata": {**body["metadata"], "labels": {}}}
    patch = secret_patch(existing, body)
    assert patch["data"] == {"EXTRA": None}
    assert patch["metadata"]["labels"] == body["metadata"]["labels"]
    # The overlap ends: the previous pair and our expiry annotation go, others' annotations stay.
    during = app_secret(keys=KeySet(KEYS, OLD, NOW + MINUTE), **args)  # type: ignore[arg-type]
    assert during["metadata"]["annotations"][PREVIOUS_EXPIRES_ANNOTATION] == "2026-03-01T12:01:00Z"
    during["metadata"]["annotations"]["team.example/owner"] = "x"
    patch = secret_patch(during, body)
    assert patch["data"] == {"PREVIOUS_AWS_ACCESS_KEY_ID": None, "PREVIOUS_AWS_SECRET_ACCESS_KEY": None}
    assert patch["metadata"] == {"annotations": {PREVIOUS_EXPIRES_ANNOTATION: None}}


def test_condition_transition_time_moves_only_on_flips() -> None:
    first = set_condition(None, type_="Ready", status=True, reason="A", message="m", generation=1, timestamp="t1")
    same = set_condition(first, type_="Ready", status=True, reason="B", message="m2", generation=2, timestamp="t2")
    flipped = set_condition(same, type_="Ready", status=False, reason="C", message="m3", generation=2, timestamp="t3")
    assert [c["lastTransitionTime"] for c in (first[0], same[0], flipped[0])] == ["t1", "t1", "t3"]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTS3_OPERATOR_NAMESPACES", "team-a, team-b,")
    monkeypatch.setenv("SMARTS3_OPERATOR_SERVER_SCHEME", "https")
    monkeypatch.setenv("SMARTS3_OPERATOR_CONFIG_SECRET_NAMESPACE", "s3")
    settings = OperatorSettings()
    assert settings.namespaces == ["team-a", "team-b"]
    assert settings.endpoint == "https://smarts3.s3.svc:9000"
    monkeypatch.setenv("SMARTS3_OPERATOR_CONFIG_SECRET_NAME", "Bad_Name")
    with pytest.raises(ValueError, match="not a valid Kubernetes object name"):
        OperatorSettings()


def test_crd_duration_field_matches_the_parser() -> None:
    """The CRD's schema (admission) and the operator's parser accept the same previousKeyTTL."""
    import pathlib

    from smarts3_operator.specs import DEFAULT_PREVIOUS_KEY_TTL, DURATION_PATTERN

    crd = yaml.safe_load(
        (pathlib.Path(__file__).parents[2] / "manifests/crds/s3credentials.smarts3.io.yaml").read_text()
    )
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    field = schema["spec"]["properties"]["previousKeyTTL"]
    assert (field["pattern"], field["default"]) == (DURATION_PATTERN, DEFAULT_PREVIOUS_KEY_TTL)
    status = schema["status"]["properties"]
    assert status["previousKeyExpiresAt"]["format"] == "date-time" and "previousAccessKeyId" in status
