"""Pure functions of the operator: planning, rendering, key choice, patches, settings."""

from __future__ import annotations

import base64

import pytest
import yaml

from smarts3.config.declared import DeclaredConfig
from smarts3_operator.render import (
    ROTATION_ANNOTATION,
    BucketObject,
    CredentialObject,
    KeyPair,
    app_secret,
    choose_keys,
    dump_declared,
    generate_keys,
    load_declared,
    plan,
    secret_patch,
)
from smarts3_operator.settings import OperatorSettings
from smarts3_operator.specs import InvalidSpec, parse_bucket, parse_credential
from smarts3_operator.status import set_condition

KEYS = KeyPair("SKAAAAAAAAAAAAAAAAAA", "s" * 40)


def bucket(ns: str, name: str, created: str = "2026-01-01T00:00:00Z", **spec: object) -> BucketObject:
    return BucketObject(namespace=ns, name=name, created=created, spec=parse_bucket(spec))


def cred(ns: str, name: str, *refs: tuple[str, str], keys: KeyPair | None = KEYS) -> CredentialObject:
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


def _secret(keys: KeyPair, token: str) -> dict[str, object]:
    enc = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return {
        "metadata": {"annotations": {ROTATION_ANNOTATION: token}},
        "data": {"AWS_ACCESS_KEY_ID": enc(keys.access_key_id), "AWS_SECRET_ACCESS_KEY": enc(keys.secret_access_key)},
    }


def test_choose_keys() -> None:
    other = KeyPair("SKBBBBBBBBBBBBBBBBBB", "t" * 40)
    assert choose_keys(_secret(KEYS, ""), "", other) == (KEYS, "kept")
    new, how = choose_keys(_secret(KEYS, ""), "2026-01", other)
    assert how == "rotated" and new not in (KEYS, other)
    assert choose_keys(None, "", other) == (other, "restored")
    assert choose_keys({"metadata": {}, "data": {}}, "", other) == (other, "restored")
    fresh, how = choose_keys(None, "", None)
    assert how == "generated" and fresh != KEYS


def test_generated_keys_look_like_aws_keys() -> None:
    pairs = {generate_keys() for _ in range(50)}
    assert len(pairs) == 50
    for pair in pairs:
        assert len(pair.access_key_id) == 20 and pair.access_key_id.isalnum() and pair.access_key_id.isupper()
        assert len(pair.secret_access_key) == 40 and pair.secret_access_key.isalnum()
        assert pair.secret_access_key not in repr(pair)


def test_app_secret_and_patch() -> None:
    spec = parse_credential({"secretName": "app-s3", "buckets": [{"name": "data", "access": "read"}]})
    body = app_secret(
        namespace="a",
        credential="app",
        credential_uid="u-1",
        spec=spec,
        keys=KEYS,
        rotation="",
        endpoint="http://s3:9000",
        region="eu-west-1",
        bucket_names={"data": "data-bucket"},
    )
    data = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert data["BUCKET_NAME"] == "data-bucket" and data["AWS_REGION"] == "eu-west-1"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert secret_patch(body, body) == {}
    existing = {**body, "data": {**body["data"], "EXTRA": "eA=="}, "metadata": {**body["metadata"], "labels": {}}}
    patch = secret_patch(existing, body)
    assert patch["data"] == {"EXTRA": None}
    assert patch["metadata"]["labels"] == body["metadata"]["labels"]


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
