"""The bucket policy language: what parse refuses (with S3's reason) and what evaluate answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smarts3.access.actions import IAM_ACTIONS, KNOWN_IAM_ACTIONS
from smarts3.access.policy import Caller, Verdict, parse, resource_arn
from smarts3.access.policy_conditions import PolicyError
from smarts3.s3.operations import Op

ALICE = Caller(frozenset({"alice-id", "AKALICE"}), "alice")
BOB = Caller(frozenset({"bob-id", "AKBOB"}), "bob")
ANON = Caller()


def policy(*statements: dict[str, Any], version: str = "2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


def stmt(effect: str = "Allow", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, "Principal": "*", "Action": "s3:GetObject"}
    out["Resource"] = "arn:aws:s3:::b/*"
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


def parsed(text: str) -> Any:
    return parse(text, "b", KNOWN_IAM_ACTIONS)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "first byte must be '{'"),
        ("[]", "first byte must be '{'"),
        ("{not json", "invalid Json"),
        (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
        (json.dumps({"Version": "2020-01-01", "Statement": [stmt()]}), "valid version"),
        (json.dumps({"Statement": [], "Version": "2012-10-17"}), "Statement is empty"),
        (policy(stmt(Effect="Maybe")), "Invalid effect"),
        (policy(stmt(Resource="arn:aws:s3:::other/*")), "invalid resource"),
        (policy(stmt(Resource="arn:aws:iam::1:user/x")), "invalid resource"),
        (policy(stmt(Action="ec2:RunInstances")), "invalid action"),
        (policy(stmt(Action="s3:NoSuchThing")), "invalid action"),
        (policy(stmt(Principal={"Federated": "x"})), "Invalid principal"),
        (policy(stmt(Principal={"AWS": "arn:aws:sts::1:role/x"})), "Invalid principal"),
        (policy(stmt(NotAction="s3:GetObject")), "both Action and NotAction"),
        (policy(stmt(Principal=None)), "Missing required field Principal"),
        (policy(stmt(Sid="a"), stmt(Sid="a")), "unique"),
        (policy(stmt(Sid="no-dash")), "alpha-numeric"),
        (policy(stmt(Bogus=1)), "Unknown field Bogus"),
        (policy(stmt(Condition={"StringFancy": {"s3:prefix": "a"}})), "Invalid Condition type"),
        (policy(stmt(Condition={"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}})), "not an IP address"),
        (policy(stmt(Condition={"NumericLessThan": {"s3:max-keys": "ten"}})), "not a number"),
        (policy(stmt(Condition={"DateLessThan": {"aws:CurrentTime": "tomorrow"}})), "not a date"),
        (policy(stmt(Condition={"Bool": {"aws:SecureTransport": "yes"}})), "not a boolean"),
        (policy(stmt(Condition={"StringEquals": {"nokey": "a"}})), "invalid condition key"),
        ('{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": []}', "Duplicate field"),
        ("{" + " " * 20 * 1024 + "}", "less than 20 KB"),
    ],
)
def test_malformed_policies_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason.replace("(", r"\(")):
        parsed(text)


def test_a_lone_statement_object_and_the_old_version_parse() -> None:
    doc = json.dumps({"Version": "2008-10-17", "Statement": stmt()})
    assert parsed(doc).evaluate(ANON, "s3:GetObject", resource_arn("b", "k"), {}) is Verdict.ALLOW


def test_every_operation_has_a_known_iam_action() -> None:
    missing = {op for op in Op if op is not Op.CORS_PREFLIGHT and op not in IAM_ACTIONS}
    assert not missing
    assert all(a.lower() in KNOWN_IAM_ACTIONS for a in IAM_ACTIONS.values() if a.startswith("s3:"))


# (statement fields, caller, action, resource key (None: the bucket), facts, expected)
CASES: list[tuple[dict[str, Any], Caller, str, str | None, dict[str, list[str]], Verdict | None]] = [
    ({}, ANON, "s3:GetObject", "k", {}, Verdict.ALLOW),
    ({}, ANON, "s3:PutObject", "k", {}, None),
    ({}, ANON, "s3:GetObject", None, {}, None),  # the bucket ARN is not b/*
    ({"Action": "s3:Get*"}, ALICE, "s3:GetObjectTagging", "k", {}, Verdict.ALLOW),
    ({"Action": "S3:getobject"}, ALICE, "s3:GetObject", "k", {}, Verdict.ALLOW),  # actions ignore case
    ({"Action": "*", "Resource": "*"}, ALICE, "s3:DeleteBucket", None, {}, Verdict.ALLOW),
    ({"Action": None, "NotAction": "s3:Delete*"}, ALICE, "s3:DeleteObject", "k", {}, None),
    ({"Action": None, "NotAction": "s3:Delete*"}, ALICE, "s3:PutObject", "k", {}, Verdict.ALLOW),
    ({"Resource": "arn:aws:s3:::b/pub/*"}, ANON, "s3:GetObject", "pub/x", {}, Verdict.ALLOW),
    ({"Resource": "arn:aws:s3:::b/pub/*"}, ANON, "s3:GetObject", "priv/x", {}, None),
    ({"Resource": None, "NotResource": "arn:aws:s3:::b/priv/*"}, ANON, "s3:GetObject", "pub/x", {}, Verdict.ALLOW),
    ({"Resource": None, "NotResource": "arn:aws:s3:::b/priv/*"}, ANON, "s3:GetObject", "priv/x", {}, None),
    ({"Principal": {"AWS": ["alice-id"]}}, ALICE, "s3:GetObject", "k", {}, Verdict.ALLOW),
    ({"Principal": {"AWS": "alice-id"}}, BOB, "s3:GetObject", "k", {}, None),
    ({"Principal": {"AWS": "alice-id"}}, ANON, "s3:GetObject", "k", {}, None),
    ({"Principal": {"CanonicalUser": "bob-id"}}, BOB, "s3:GetObject", "k", {}, Verdict.ALLOW),
    ({"Principal": {"AWS": "arn:aws:iam::123456789012:user/bob"}}, BOB, "s3:GetObject", "k", {}, Verdict.ALLOW),
    ({"Principal": {"AWS": "arn:aws:iam::123456789012:user/bob"}}, ALICE, "s3:GetObject", "k", {}, None),
    ({"Principal": {"AWS": "*"}}, ANON, "s3:GetObject", "k", {}, Verdict.ALLOW),
    ({"Principal": None, "NotPrincipal": {"AWS": "alice-id"}}, BOB, "s3:GetObject", "k", {}, Verdict.ALLOW),
    ({"Principal": None, "NotPrincipal": {"AWS": "alice-id"}}, ALICE, "s3:GetObject", "k", {}, None),
    ({"Effect": "Deny"}, ALICE, "s3:GetObject", "k", {}, Verdict.DENY),
    # conditions
    (
        {"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        ANON, "s3:GetObject", "k", {"aws:sourceip": ["10.1.2.3"]}, Verdict.ALLOW,
    ),
    (
        {"Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1/128"]}}},
        ANON, "s3:GetObject", "k", {"aws:sourceip": ["::1"]}, Verdict.ALLOW,
    ),
    (
        {"Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        ANON, "s3:GetObject", "k", {"aws:sourceip": ["10.1.2.3"]}, None,
    ),
    ({"Condition": {"Bool": {"aws:SecureTransport": "false"}}}, ANON, "s3:GetObject", "k",
     {"aws:securetransport": ["false"]}, Verdict.ALLOW),
    ({"Condition": {"Bool": {"aws:SecureTransport": False}}}, ANON, "s3:GetObject", "k",
     {"aws:securetransport": ["true"]}, None),
    ({"Condition": {"StringLike": {"s3:prefix": ["home/*"]}}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"},
     ALICE, "s3:ListBucket", None, {"s3:prefix": ["home/alice/"]}, Verdict.ALLOW),
    ({"Condition": {"StringLike": {"s3:prefix": ["home/*"]}}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"},
     ALICE, "s3:ListBucket", None, {}, None),  # no prefix: a positive operator fails
    ({"Condition": {"StringNotEquals": {"s3:x-amz-acl": "public-read"}}}, ALICE, "s3:GetObject", "k", {},
     Verdict.ALLOW),  # absent key: a negated operator holds
    ({"Condition": {"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}}, ALICE, "s3:GetObject", "k", {},
     Verdict.ALLOW),
    ({"Condition": {"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}}, ALICE, "s3:GetObject", "k",
     {"s3:x-amz-acl": ["public-read"]}, None),
    ({"Condition": {"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}}, ALICE, "s3:GetObject", "k",
     {"aws:username": ["alice"]}, Verdict.ALLOW),
    ({"Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}}, ALICE, "s3:GetObject", "k",
     {"s3:max-keys": ["10"]}, Verdict.ALLOW),
    ({"Condition": {"NumericGreaterThan": {"s3:max-keys": "10"}}}, ALICE, "s3:GetObject", "k",
     {"s3:max-keys": ["10"]}, None),
    ({"Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}, ANON, "s3:GetObject", "k",
     {"aws:currenttime": ["2026-12-06T19:00:00Z"]}, Verdict.ALLOW),
    ({"Condition": {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01"}}}, ANON, "s3:GetObject", "k",
     {"aws:currenttime": ["2026-12-06T19:00:00Z"]}, None),
    ({"Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}, "Effect": "Deny",
      "Action": "s3:PutObject"}, ALICE, "s3:PutObject", "k", {}, Verdict.DENY),
    ({"Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}, "Effect": "Deny",
      "Action": "s3:PutObject"}, ALICE, "s3:PutObject", "k", {"s3:x-amz-server-side-encryption": ["AES256"]}, None),
    ({"Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}}, ANON, "s3:GetObject", "k",
     {"s3:existingobjecttag/class": ["public"]}, Verdict.ALLOW),
    ({"Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}}, ANON, "s3:GetObject", "k",
     {"s3:existingobjecttag/Class": ["public"]}, None),  # the tag name keeps its case
    ({"Condition": {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}}, ALICE,
     "s3:GetObject", "k", {"s3:requestobjecttagkeys": ["a"]}, Verdict.ALLOW),
    ({"Condition": {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}}, ALICE,
     "s3:GetObject", "k", {"s3:requestobjecttagkeys": ["a", "c"]}, None),
    ({"Condition": {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["c"]}}}, ALICE,
     "s3:GetObject", "k", {"s3:requestobjecttagkeys": ["a", "c"]}, Verdict.ALLOW),
    ({"Condition": {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["c"]}}}, ALICE,
     "s3:GetObject", "k", {}, None),
    ({"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::b*"}}}, ALICE, "s3:GetObject", "k",
     {"aws:sourcearn": ["arn:aws:s3:::bucket"]}, Verdict.ALLOW),
    ({"Condition": {"StringEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}}, ALICE, "s3:GetObject", "k",
     {"s3:signatureversion": ["AWS"]}, None),
    # two keys in one block: both must hold
    ({"Condition": {"StringEquals": {"aws:username": "alice", "s3:delimiter": "/"}}}, ALICE, "s3:GetObject", "k",
     {"aws:username": ["alice"]}, None),
]


@pytest.mark.parametrize(("fields", "caller", "action", "key", "facts", "expected"), CASES)
def test_evaluate(
    fields: dict[str, Any],
    caller: Caller,
    action: str,
    key: str | None,
    facts: dict[str, list[str]],
    expected: Verdict | None,
) -> None:
    assert parsed(policy(stmt(**fields))).evaluate(caller, action, resource_arn("b", key), facts) is expected


def test_explicit_deny_wins_over_any_allow() -> None:
    doc = policy(stmt(Action="s3:*"), stmt("Deny", Principal={"AWS": "bob-id"}, Action="s3:GetObject"))
    assert parsed(doc).evaluate(BOB, "s3:GetObject", resource_arn("b", "k"), {}) is Verdict.DENY
    assert parsed(doc).evaluate(ALICE, "s3:GetObject", resource_arn("b", "k"), {}) is Verdict.ALLOW


@pytest.mark.parametrize(
    ("fields", "public"),
    [
        ({}, True),
        ({"Effect": "Deny"}, False),
        ({"Principal": {"AWS": "alice-id"}}, False),
        ({"Principal": None, "NotPrincipal": {"AWS": "alice-id"}}, True),
        ({"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, False),
        ({"Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}, True),
        ({"Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, True),
        ({"Condition": {"StringLike": {"aws:userid": "*"}}}, True),
        ({"Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}, False),
        ({"Condition": {"Bool": {"aws:SecureTransport": "true"}}}, True),
    ],
)
def test_public_as_aws_defines_it(fields: dict[str, Any], public: bool) -> None:
    assert parsed(policy(stmt(**fields))).public is public
