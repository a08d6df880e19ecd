"""Put/Get/DeleteBucketLifecycleConfiguration over HTTP: round trips with boto3 and the AWS CLI,
every invalid document answered with S3's 400, the Content-MD5 requirement, and
x-amz-expiration on PUT/GET/HEAD of objects a rule expires."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_bad_input import md5_header, s3_error, send
from tests.integration.test_cli import aws

_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _doc(*rules: str) -> bytes:
    return f"<LifecycleConfiguration {_NS}>{''.join(rules)}</LifecycleConfiguration>".encode()


def _rule(body: str, *, rule_id: str = "r1", status: str = "Enabled",
          flt: str = "<Filter><Prefix>logs/</Prefix></Filter>") -> str:
    return f"<Rule><ID>{rule_id}</ID>{flt}<Status>{status}</Status>{body}</Rule>"


EXPIRE = "<Expiration><Days>30</Days></Expiration>"
TAG = "<Tag><Key>k</Key><Value>v</Value></Tag>"

# (case, document, status, code)
INVALID: list[tuple[str, bytes, int, str]] = [
    ("not-xml", b"<LifecycleConfiguration><Rule>", 400, "MalformedXML"),
    ("wrong-root", b"<CORSConfiguration/>", 400, "MalformedXML"),
    ("no-rules", _doc(), 400, "MalformedXML"),
    ("too-many-rules", _doc(*(_rule(EXPIRE, rule_id=f"r{i}") for i in range(1001))), 400, "MalformedXML"),
    ("id-too-long", _doc(_rule(EXPIRE, rule_id="x" * 256)), 400, "InvalidArgument"),
    ("duplicate-id", _doc(_rule(EXPIRE), _rule(EXPIRE)), 400, "InvalidArgument"),
    ("bad-status", _doc(_rule(EXPIRE, status="On")), 400, "MalformedXML"),
    ("no-action", _doc(_rule("")), 400, "InvalidRequest"),
    ("unknown-element", _doc(_rule(EXPIRE + "<Frobnicate/>")), 400, "MalformedXML"),
    ("filter-and-prefix", _doc(_rule(EXPIRE, flt="<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter>")),
     400, "MalformedXML"),
    ("neither-filter-nor-prefix", _doc(_rule(EXPIRE, flt="")), 400, "MalformedXML"),
    ("filter-two-predicates", _doc(_rule(EXPIRE, flt=f"<Filter><Prefix>a</Prefix>{TAG}</Filter>")),
     400, "MalformedXML"),
    ("and-one-predicate", _doc(_rule(EXPIRE, flt="<Filter><And><Prefix>a</Prefix></And></Filter>")),
     400, "MalformedXML"),
    ("and-duplicate-tag", _doc(_rule(EXPIRE, flt=f"<Filter><And>{TAG}{TAG}</And></Filter>")), 400, "InvalidRequest"),
    ("size-inverted", _doc(_rule(EXPIRE, flt="<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
                                             "<ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter>")),
     400, "InvalidArgument"),
    ("size-not-integer", _doc(_rule(EXPIRE, flt="<Filter><ObjectSizeLessThan>big</ObjectSizeLessThan></Filter>")),
     400, "MalformedXML"),
    ("days-zero", _doc(_rule("<Expiration><Days>0</Days></Expiration>")), 400, "InvalidArgument"),
    ("days-text", _doc(_rule("<Expiration><Days>ten</Days></Expiration>")), 400, "MalformedXML"),
    ("days-and-date", _doc(_rule("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>")),
     400, "MalformedXML"),
    ("days-and-marker", _doc(_rule("<Expiration><Days>1</Days>"
                                   "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")),
     400, "MalformedXML"),
    ("empty-expiration", _doc(_rule("<Expiration/>")), 400, "MalformedXML"),
    ("date-not-midnight", _doc(_rule("<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>")),
     400, "InvalidArgument"),
    ("date-garbage", _doc(_rule("<Expiration><Date>soon</Date></Expiration>")), 400, "MalformedXML"),
    ("marker-with-tag", _doc(_rule("<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
                                   "</Expiration>", flt=f"<Filter>{TAG}</Filter>")), 400, "InvalidRequest"),
    ("marker-not-boolean", _doc(_rule("<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker>"
                                      "</Expiration>")), 400, "MalformedXML"),
    ("noncurrent-days-zero", _doc(_rule("<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays>"
                                        "</NoncurrentVersionExpiration>")), 400, "InvalidArgument"),
    ("noncurrent-days-missing", _doc(_rule("<NoncurrentVersionExpiration><NewerNoncurrentVersions>2"
                                           "</NewerNoncurrentVersions></NoncurrentVersionExpiration>")),
     400, "MalformedXML"),
    ("newer-noncurrent-over-100", _doc(_rule("<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                                             "<NewerNoncurrentVersions>101</NewerNoncurrentVersions>"
                                             "</NoncurrentVersionExpiration>")), 400, "InvalidArgument"),
    ("abort-days-zero", _doc(_rule("<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation>"
                                   "</AbortIncompleteMultipartUpload>")), 400, "InvalidArgument"),
    ("abort-with-tag", _doc(_rule("<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
                                  "</AbortIncompleteMultipartUpload>", flt=f"<Filter>{TAG}</Filter>")),
     400, "InvalidRequest"),
    ("transition-bad-class", _doc(_rule("<Transition><Days>40</Days><StorageClass>TAPE</StorageClass></Transition>")),
     400, "MalformedXML"),
    ("transition-ia-too-soon", _doc(_rule("<Transition><Days>10</Days><StorageClass>STANDARD_IA</StorageClass>"
                                          "</Transition>")), 400, "InvalidArgument"),
    ("transition-after-expiry", _doc(_rule("<Expiration><Days>30</Days></Expiration><Transition><Days>40</Days>"
                                           "<StorageClass>GLACIER</StorageClass></Transition>")),
     400, "InvalidArgument"),
    ("transition-class-twice", _doc(_rule("<Transition><Days>40</Days><StorageClass>GLACIER</StorageClass>"
                                          "</Transition><Transition><Days>50</Days><StorageClass>GLACIER"
                                          "</StorageClass></Transition>")), 400, "InvalidRequest"),
    ("transition-days-and-dates", _doc(_rule("<Transition><Days>40</Days><StorageClass>GLACIER</StorageClass>"
                                             "</Transition><Transition><Date>2031-01-01T00:00:00Z</Date>"
                                             "<StorageClass>DEEP_ARCHIVE</StorageClass></Transition>")),
     400, "InvalidRequest"),
    ("transition-negative-days", _doc(_rule("<Transition><Days>-1</Days><StorageClass>GLACIER</StorageClass>"
                                            "</Transition>")), 400, "MalformedXML"),
    ("size-less-than-zero", _doc(_rule(EXPIRE, flt="<Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>")),
     400, "InvalidArgument"),
    ("noncurrent-transition-ia-too-soon", _doc(_rule("<NoncurrentVersionTransition><NoncurrentDays>5</NoncurrentDays>"
                                                     "<StorageClass>ONEZONE_IA</StorageClass>"
                                                     "</NoncurrentVersionTransition>")), 400, "InvalidArgument"),
    # Checked against other implementations (the commit message says which says what).
    ("tag-key-too-long", _doc(_rule(EXPIRE, flt=f"<Filter><Tag><Key>{'k' * 129}</Key><Value>v</Value></Tag></Filter>")),
     400, "InvalidTag"),
    ("tag-value-too-long",
     _doc(_rule(EXPIRE, flt=f"<Filter><Tag><Key>k</Key><Value>{'v' * 257}</Value></Tag></Filter>")),
     400, "InvalidTag"),
    ("tag-key-empty-in-and", _doc(_rule(EXPIRE, flt=f"<Filter><And>{TAG}<Tag><Key></Key><Value>v</Value></Tag>"
                                                    "</And></Filter>")), 400, "InvalidTag"),
    ("tag-without-value", _doc(_rule(EXPIRE, flt="<Filter><Tag><Key>k</Key></Tag></Filter>")), 400, "MalformedXML"),
    ("date-compact", _doc(_rule("<Expiration><Date>20200101</Date></Expiration>")), 400, "MalformedXML"),
    ("date-offset-not-midnight-utc", _doc(_rule("<Expiration><Date>2030-01-01T00:00:00+01:00</Date></Expiration>")),
     400, "InvalidArgument"),
    ("days-negative", _doc(_rule("<Expiration><Days>-3</Days></Expiration>")), 400, "InvalidArgument"),
    ("date-and-marker", _doc(_rule("<Expiration><Date>2030-01-01T00:00:00Z</Date>"
                                   "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")),
     400, "MalformedXML"),
    ("noncurrent-days-negative", _doc(_rule("<NoncurrentVersionExpiration><NoncurrentDays>-1</NoncurrentDays>"
                                            "</NoncurrentVersionExpiration>")), 400, "InvalidArgument"),
    ("duplicate-id-among-many", _doc(*(_rule(EXPIRE, rule_id=f"r{i % 40}") for i in range(41))),
     400, "InvalidArgument"),
]

# AWS's Message where its wording is known (s3-tests, AWS error output quoted in the wild).
MESSAGES = {
    "id-too-long": "ID length should not exceed allowed limit of 255",
    "duplicate-id": "Rule ID must be unique. Found same ID for more than one rule",
    "days-zero": "'Days' for Expiration action must be a positive integer",
    "date-not-midnight": "'Date' must be at midnight GMT",
    "noncurrent-days-zero": "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
}


@pytest.mark.parametrize(("case", "document", "status", "code"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_configurations_are_refused_as_s3_does(server: Any, s3: Any, bucket: str, case: str,
                                                       document: bytes, status: int, code: str) -> None:
    response = send(server, "PUT", f"/{bucket}?lifecycle", document, md5_header(document))
    root = s3_error(response, status, code)
    if case in MESSAGES:
        assert root.findtext("Message") == MESSAGES[case]
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert exc.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"


def test_the_limits_themselves_are_accepted(server: Any, s3: Any, bucket: str) -> None:
    """1,000 rules, a 255-character ID, a 128/256-character tag key/value and midnight UTC given
    with a zero offset are all valid: the refusals above are at the limits, not before them."""
    rules = [_rule(EXPIRE, rule_id=f"r{i}") for i in range(999)]
    rules.append(_rule("<Expiration><Date>2030-01-01T00:00:00+00:00</Date></Expiration>", rule_id="x" * 255,
                       flt=f"<Filter><Tag><Key>{'k' * 128}</Key><Value>{'v' * 256}</Value></Tag></Filter>"))
    document = _doc(*rules)
    assert send(server, "PUT", f"/{bucket}?lifecycle", document, md5_header(document)).status_code == 200
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(got) == 1000 and got[-1]["ID"] == "x" * 255
    assert got[-1]["Expiration"]["Date"] == datetime(2030, 1, 1, tzinfo=UTC)


def test_content_md5_or_checksum_is_required(server: Any, bucket: str) -> None:
    document = _doc(_rule(EXPIRE))
    s3_error(send(server, "PUT", f"/{bucket}?lifecycle", document), 400, "InvalidRequest")
    s3_error(send(server, "PUT", f"/{bucket}?lifecycle", document, {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}),
             400, "BadDigest")
    assert send(server, "PUT", f"/{bucket}?lifecycle", document, md5_header(document)).status_code == 200


def test_get_without_configuration_and_delete(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    error = exc.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("NoSuchLifecycleConfiguration",
                                                                                     404)
    assert error["Error"]["BucketName"] == bucket
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "a", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}]})
    assert s3.delete_bucket_lifecycle(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_boto3_round_trip_of_every_shape(s3: Any, bucket: str) -> None:
    rules = [
        {"ID": "prefix", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}},
        {"ID": "tag", "Filter": {"Tag": {"Key": "tier", "Value": "tmp"}}, "Status": "Disabled",
         "Expiration": {"Date": datetime(2031, 1, 1, tzinfo=UTC)}},
        {"ID": "and", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "x", "Value": "1"}],
                                         "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 1000}},
         "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}},
        {"ID": "size", "Filter": {"ObjectSizeGreaterThan": 5}, "Status": "Enabled",
         "Transitions": [{"Days": 40, "StorageClass": "GLACIER"}],
         "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"}]},
        {"ID": "markers", "Filter": {}, "Status": "Enabled", "Expiration": {"ExpiredObjectDeleteMarker": True},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got == rules


def test_legacy_prefix_and_generated_id(server: Any, s3: Any, bucket: str) -> None:
    document = _doc("<Rule><Prefix>old/</Prefix><Status>Enabled</Status>" + EXPIRE + "</Rule>")
    assert send(server, "PUT", f"/{bucket}?lifecycle", document, md5_header(document)).status_code == 200
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Prefix"] == "old/" and "Filter" not in rule
    assert 0 < len(rule["ID"]) <= 255


def test_aws_cli_put_and_get(server: Any, bucket: str, tmp_path: Path) -> None:
    config = {"Rules": [{"ID": "cli", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
                         "Expiration": {"Days": 1},
                         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}
    path = tmp_path / "lifecycle.json"
    path.write_text(json.dumps(config))
    aws(server, "s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket,
        "--lifecycle-configuration", f"file://{path}")
    got = json.loads(aws(server, "s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket).stdout)
    assert got["Rules"] == config["Rules"]


_EXPIRATION = re.compile(r'expiry-date="([^"]+)", rule-id="([^"]+)"')


def test_expiration_header_on_put_get_head(s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "short", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 3}},
        {"ID": "long", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 10}},
        {"ID": "off", "Filter": {"Prefix": "logs/"}, "Status": "Disabled", "Expiration": {"Days": 1}}]})
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    get = s3.get_object(Bucket=bucket, Key="logs/a")
    for response in (put, head, get):
        match = _EXPIRATION.fullmatch(response["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"])
        assert match, response["ResponseMetadata"]["HTTPHeaders"]
        assert match.group(2) == "short"  # the earliest enabled rule; the disabled one does not count
        at = parsedate_to_datetime(match.group(1))
        # Days from Last-Modified, rounded up to the next midnight UTC as S3 does.
        assert (at.hour, at.minute, at.second) == (0, 0, 0)
        assert 3 * 86400 <= (at - head["LastModified"]).total_seconds() < 4 * 86400
    s3.put_object(Bucket=bucket, Key="data/b", Body=b"x")
    headers = s3.head_object(Bucket=bucket, Key="data/b")["ResponseMetadata"]["HTTPHeaders"]
    assert _EXPIRATION.fullmatch(headers["x-amz-expiration"]).group(2) == "long"  # type: ignore[union-attr]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    headers = s3.head_object(Bucket=bucket, Key="data/b")["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-expiration" not in headers


def test_no_expiration_header_when_no_rule_applies(s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "tagged", "Filter": {"Tag": {"Key": "tier", "Value": "tmp"}}, "Status": "Enabled",
         "Expiration": {"Days": 3}},
        {"ID": "versions", "Filter": {}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
    put = s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert "x-amz-expiration" not in put["ResponseMetadata"]["HTTPHeaders"]
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="tier=tmp")
    headers = s3.head_object(Bucket=bucket, Key="tagged")["ResponseMetadata"]["HTTPHeaders"]
    assert 'rule-id="tagged"' in headers["x-amz-expiration"]
