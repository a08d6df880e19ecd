"""The POST form policy document: what parse refuses and what check refuses."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from smarts3.s3 import post_policy
from smarts3.s3.errors import S3Error

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def enc(doc: Any) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def policy(*conditions: Any, expiration: str = "2026-12-07T00:00:00.000Z") -> post_policy.Policy:
    return post_policy.parse(enc({"expiration": expiration, "conditions": list(conditions)}))


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ("!!!", "Invalid JSON"),
        (enc([]), "Invalid JSON"),
        (enc({"conditions": []}), "missing expiration"),
        (enc({"expiration": "soon", "conditions": []}), "Invalid 'expiration'"),
        (enc({"expiration": "2026-12-07T00:00:00Z"}), "missing conditions"),
        (enc({"expiration": "2026-12-07T00:00:00Z", "conditions": {}}), "must be a list"),
        (enc({"expiration": "2026-12-07T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}), "exactly one"),
        (enc({"expiration": "2026-12-07T00:00:00Z", "conditions": [["gt", "$key", "1"]]}), "Invalid Condition"),
        (enc({"expiration": "2026-12-07T00:00:00Z", "conditions": [["eq", "key", "1"]]}), "Invalid Condition"),
        (enc({"expiration": "2026-12-07T00:00:00Z", "conditions": [["content-length-range", 5, 1]]}),
         "content-length-range"),
        (enc({"expiration": "2026-12-07T00:00:00Z", "conditions": [["content-length-range", "a", 1]]}),
         "content-length-range"),
    ],
)
def test_malformed_documents(encoded: str, reason: str) -> None:
    with pytest.raises(S3Error) as exc:
        post_policy.parse(encoded)
    assert exc.value.code == "InvalidPolicyDocument" and exc.value.status == 400
    assert reason in exc.value.message


CHECKS: list[tuple[list[Any], dict[str, str], str | None]] = [
    ([{"key": "a"}], {"key": "a"}, None),
    ([{"key": "a"}], {"key": "b"}, "Policy Condition failed"),
    ([["eq", "$key", "a"]], {"key": "a"}, None),
    ([["starts-with", "$key", "user/"]], {"key": "user/x"}, None),
    ([["starts-with", "$key", "user/"]], {"key": "other"}, "Policy Condition failed"),
    ([["starts-with", "$Content-Type", ""]], {"content-type": "anything"}, None),  # names ignore case
    ([{"bucket": "b"}], {}, None),
    ([{"bucket": "other"}], {}, "Policy Condition failed"),
    ([], {"key": "a"}, "Extra input fields: key"),
    ([{"key": "a"}], {"key": "a", "x-ignore-me": "1", "x-amz-signature": "s", "policy": "p"}, None),
    ([["content-length-range", 1, 5]], {}, None),
]


@pytest.mark.parametrize(("conditions", "fields", "refusal"), CHECKS)
def test_check(conditions: list[Any], fields: dict[str, str], refusal: str | None) -> None:
    doc = policy(*conditions)
    if refusal is None:
        doc.check(fields, "b", NOW)
        return
    with pytest.raises(S3Error) as exc:
        doc.check(fields, "b", NOW)
    assert (exc.value.code, exc.value.status) == ("AccessDenied", 403)
    assert exc.value.message.startswith("Invalid according to Policy: ") and refusal in exc.value.message


def test_expired() -> None:
    with pytest.raises(S3Error, match="Policy expired"):
        policy(expiration="2026-12-06T11:59:59Z").check({}, "b", NOW)


def test_length_range() -> None:
    assert policy(["content-length-range", 1, "10"]).length_range == (1, 10)
    assert policy().length_range is None
