"""Bucket logging over HTTP: Put/GetBucketLogging with S3's checks on the target, and server
access log records delivered to the target bucket in batched objects, parsed field by field."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server
from tests.integration.test_bad_input import md5_header

LIMITED = ("AKLOGLIMITED0001", "limited-secret-key-0001")
ENV = {"SMARTS3_BUCKET_LOGGING_FLUSH_INTERVAL": "0.5", "SMARTS3_BUCKET_LOGGING_FLUSH_RECORDS": "1000"}
NAME = re.compile(r"^(?P<prefix>.*?)(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-(?P<unique>[0-9A-F]{16})$")
TOKEN = re.compile(r'\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\S+')
FIELDS = ("owner", "bucket", "time", "remote", "requester", "request_id", "operation", "key", "request_uri",
          "status", "error_code", "bytes_sent", "object_size", "total_time", "turnaround", "referer",
          "user_agent", "version_id", "host_id", "signature", "cipher", "auth_type", "host", "tls",
          "access_point", "acl_required")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Any]]:
    base = tmp_path_factory.mktemp("bucketlogging")
    declared = {"buckets": [{"name": "src-limited"}, {"name": "closed-target"}],
                "credentials": [{"name": "limited", "accessKeyId": LIMITED[0], "secretAccessKey": LIMITED[1],
                                 "grants": [{"bucket": "src-*", "access": "admin"}]}]}
    (base / "declared.yaml").write_text(yaml.safe_dump(declared))
    proc, url = start_subprocess_server(base / "data", "--fsync", "never", "--declared", str(base / "declared.yaml"),
                                        env=ENV)
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="us-east-1")
    limited = boto3.client("s3", endpoint_url=url, aws_access_key_id=LIMITED[0], aws_secret_access_key=LIMITED[1],
                           region_name="us-east-1")
    try:
        yield url, s3, limited
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _status(target: str, prefix: str = "logs/", key_format: dict[str, Any] | None = None) -> dict[str, Any]:
    enabled: dict[str, Any] = {"TargetBucket": target, "TargetPrefix": prefix}
    if key_format is not None:
        enabled["TargetObjectKeyFormat"] = key_format
    return {"LoggingEnabled": enabled}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response["Error"]["Code"]


def test_configuration_round_trip_and_target_checks(logged: tuple[str, Any, Any]) -> None:
    _, s3, limited = logged
    s3.create_bucket(Bucket="cfg-src")
    s3.create_bucket(Bucket="cfg-logs")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="cfg-src")
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_logging(Bucket="cfg-src", BucketLoggingStatus=_status("no-such-target"))
    assert _code(exc) == (400, "InvalidTargetBucketForLogging")

    s3.put_bucket_logging(Bucket="cfg-src", BucketLoggingStatus=_status("cfg-logs"))
    got = s3.get_bucket_logging(Bucket="cfg-src")["LoggingEnabled"]
    assert (got["TargetBucket"], got["TargetPrefix"]) == ("cfg-logs", "logs/")
    assert got["TargetObjectKeyFormat"] == {"SimplePrefix": {}}

    partitioned = {"PartitionedPrefix": {"PartitionDateSource": "DeliveryTime"}}
    s3.put_bucket_logging(Bucket="cfg-src", BucketLoggingStatus=_status("cfg-logs", "p/", partitioned))
    assert s3.get_bucket_logging(Bucket="cfg-src")["LoggingEnabled"]["TargetObjectKeyFormat"] == partitioned

    s3.put_bucket_logging(Bucket="cfg-src", BucketLoggingStatus={})  # empty status: off
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="cfg-src")

    # Admin on the source is not enough: the caller must be allowed to write the target.
    with pytest.raises(ClientError) as exc:
        limited.put_bucket_logging(Bucket="src-limited", BucketLoggingStatus=_status("closed-target"))
    assert _code(exc) == (400, "InvalidTargetBucketForLogging")
    limited.put_bucket_logging(Bucket="src-limited", BucketLoggingStatus=_status("src-limited"))


def test_a_target_in_another_region_is_refused(logged: tuple[str, Any, Any]) -> None:
    """Buckets have a region here (CreateBucket's LocationConstraint), so S3's cross-region check applies."""
    url, s3, _ = logged
    eu = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="eu-west-1")
    s3.create_bucket(Bucket="region-src")
    eu.create_bucket(Bucket="region-eu-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eu.create_bucket(Bucket="region-eu-src", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket="region-eu-logs")["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_logging(Bucket="region-src", BucketLoggingStatus=_status("region-eu-logs"))
    assert _code(exc) == (400, "InvalidTargetBucketForLogging")
    assert exc.value.response["Error"]["Message"] == "Cross S3 location logging not allowed."
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="region-src")
    with pytest.raises(ClientError) as exc:  # and the other way round
        eu.put_bucket_logging(Bucket="region-eu-src", BucketLoggingStatus=_status("region-src"))
    assert _code(exc) == (400, "InvalidTargetBucketForLogging")
    eu.put_bucket_logging(Bucket="region-eu-src", BucketLoggingStatus=_status("region-eu-logs"))  # same region
    assert eu.get_bucket_logging(Bucket="region-eu-src")["LoggingEnabled"]["TargetBucket"] == "region-eu-logs"


def test_malformed_status_and_missing_md5(logged: tuple[str, Any, Any]) -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url, s3, _ = logged
    s3.create_bucket(Bucket="bad-src")

    def put(body: bytes, headers: dict[str, str]) -> httpx.Response:
        request = AWSRequest(method="PUT", url=f"{url}/bad-src?logging", data=body, headers=headers)
        request.context["payload_signing_enabled"] = True
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
        prepared = request.prepare()
        return httpx.put(prepared.url, content=body, headers=dict(prepared.headers))

    good = b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>bad-src</TargetBucket>" \
           b"<TargetPrefix>x/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>"
    assert b"<Code>InvalidRequest</Code>" in put(good, {}).content
    for body in (b"<BucketLoggingStatus><LoggingEnabled><TargetPrefix>x</TargetPrefix></LoggingEnabled>"
                 b"</BucketLoggingStatus>",
                 b"<BucketLoggingStatus><Other/></BucketLoggingStatus>",
                 b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>bad-src</TargetBucket><TargetPrefix/>"
                 b"<TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>Never</PartitionDateSource>"
                 b"</PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled></BucketLoggingStatus>"):
        response = put(body, md5_header(body))
        assert response.status_code == 400 and b"<Code>MalformedXML</Code>" in response.content, response.text
    assert put(good, md5_header(good)).status_code == 200


def _delivered(s3: Any, bucket: str, prefix: str, wanted: int) -> tuple[list[str], list[dict[str, str]]]:
    deadline = time.monotonic() + 20
    while True:
        keys = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        lines = [line for key in keys
                 for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]
        if len(lines) >= wanted:
            break
        assert time.monotonic() < deadline, f"only {len(lines)} of {wanted} records delivered"
        time.sleep(0.2)
    records = []
    for line in lines:
        tokens = TOKEN.findall(line)
        assert len(tokens) == len(FIELDS), line
        records.append(dict(zip(FIELDS, tokens, strict=True)))
    return keys, records


def test_records_are_delivered_in_s3_format(logged: tuple[str, Any, Any]) -> None:
    url, s3, _ = logged
    s3.create_bucket(Bucket="rec-src")
    s3.create_bucket(Bucket="rec-logs")
    enabled = s3.put_bucket_logging(Bucket="rec-src", BucketLoggingStatus=_status("rec-logs"))
    key = "dir/a b.txt"
    put = s3.put_object(Bucket="rec-src", Key=key, Body=b"hello world")
    get = s3.get_object(Bucket="rec-src", Key=key, Range="bytes=0-4")
    get["Body"].read()
    with pytest.raises(ClientError):
        s3.get_object(Bucket="rec-src", Key="missing")
    presigner = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                             region_name="us-east-1", config=Config(signature_version="s3v4"))
    presigned = presigner.generate_presigned_url("get_object", Params={"Bucket": "rec-src", "Key": key})
    anonymous = httpx.get(presigned, headers={"Referer": "https://example.test/page", "User-Agent": "probe/1.0"})
    assert anonymous.status_code == 200

    keys, records = _delivered(s3, "rec-logs", "logs/", 5)
    for name in keys:
        match = NAME.fullmatch(name)
        assert match and match["prefix"] == "logs/", name
    by_id = {r["request_id"]: r for r in records}
    now = datetime.now(UTC)

    # The request that switched logging on is the first one logged.
    assert by_id[enabled["ResponseMetadata"]["RequestId"]]["operation"] == "REST.PUT.LOGGING_STATUS"
    put_record = by_id[put["ResponseMetadata"]["RequestId"]]
    assert re.fullmatch(r"[0-9a-f]{64}", put_record["owner"])
    assert put_record["bucket"] == "rec-src"
    when = datetime.strptime(put_record["time"], "[%d/%b/%Y:%H:%M:%S %z]")
    assert abs((now - when).total_seconds()) < 60
    assert put_record["remote"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{64}", put_record["requester"])
    assert put_record["operation"] == "REST.PUT.OBJECT"
    assert put_record["key"] == quote(key)
    assert put_record["request_uri"] == f'"PUT /rec-src/{quote(key)} HTTP/1.1"'
    assert (put_record["status"], put_record["error_code"]) == ("200", "-")
    assert put_record["object_size"] == "11"
    assert int(put_record["total_time"]) >= 0 and int(put_record["turnaround"]) >= 0
    assert put_record["user_agent"].startswith('"Boto3/') or "Botocore" in put_record["user_agent"]
    assert (put_record["version_id"], put_record["host_id"]) == ("-", put_record["request_id"])
    assert (put_record["signature"], put_record["auth_type"]) == ("SigV4", "AuthHeader")
    assert put_record["host"] == url.removeprefix("http://")
    assert (put_record["tls"], put_record["access_point"], put_record["acl_required"]) == ("-", "-", "-")

    get_record = by_id[get["ResponseMetadata"]["RequestId"]]
    assert (get_record["operation"], get_record["status"]) == ("REST.GET.OBJECT", "206")
    assert (get_record["bytes_sent"], get_record["object_size"]) == ("5", "11")

    (missing,) = [r for r in records if r["key"] == "missing"]
    assert (missing["status"], missing["error_code"]) == ("404", "NoSuchKey")

    presigned_record = by_id[anonymous.headers["x-amz-request-id"]]
    assert (presigned_record["signature"], presigned_record["auth_type"]) == ("SigV4", "QueryString")
    assert "X-Amz-Signature=REDACTED" in presigned_record["request_uri"]
    assert "X-Amz-Credential" in presigned_record["request_uri"]
    assert presigned_record["referer"] == '"https://example.test/page"'
    assert presigned_record["user_agent"] == '"probe/1.0"'
    assert presigned_record["bytes_sent"] == "11"


def test_partitioned_prefix_names(logged: tuple[str, Any, Any]) -> None:
    _, s3, _ = logged
    s3.create_bucket(Bucket="part-src")
    s3.create_bucket(Bucket="part-logs")
    s3.put_bucket_logging(Bucket="part-src", BucketLoggingStatus=_status(
        "part-logs", "p/", {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}))
    s3.put_object(Bucket="part-src", Key="k", Body=b"x")
    keys, records = _delivered(s3, "part-logs", "p/", 1)
    owner = records[0]["owner"]
    day = datetime.now(UTC)
    for name in keys:
        match = NAME.fullmatch(name)
        assert match, name
        assert re.fullmatch(rf"p/{owner}/us-east-1/part-src/\d{{4}}/\d{{2}}/\d{{2}}/", match["prefix"]), name
        assert match["prefix"].split("/")[4] == f"{day.year:04d}"
    assert not [r for r in records if r["bucket"] != "part-src"]


def test_two_workers_each_deliver_their_own_objects(tmp_path_factory: pytest.TempPathFactory) -> None:
    proc, url = start_subprocess_server(tmp_path_factory.mktemp("twoworkers") / "data", "--fsync", "never",
                                        "--workers", "2", env=ENV)
    try:
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name="us-east-1")
        s3.create_bucket(Bucket="two-src")
        s3.create_bucket(Bucket="two-logs")
        put = s3.put_bucket_logging(Bucket="two-src", BucketLoggingStatus=_status("two-logs"))
        sent = {put["ResponseMetadata"]["RequestId"]}
        deadline = time.monotonic() + 30
        while True:
            for _ in range(10):  # a new connection each time, so both workers serve some of them
                response = httpx.get(s3.generate_presigned_url("get_object", Params={"Bucket": "two-src", "Key": "k"}))
                sent.add(response.headers["x-amz-request-id"])
            keys, records = _delivered(s3, "two-logs", "logs/", 1)
            got = [r["request_id"] for r in records]
            if len({rid[:10] for rid in got}) >= 2:  # a request id starts with its process's own prefix
                break
            assert time.monotonic() < deadline, "records from one worker only"
        assert len(got) == len(set(got)), "a record delivered twice"
        assert set(got) <= sent
        assert len(keys) == len(set(keys)) >= 2  # each worker writes its own objects
    finally:
        proc.terminate()
        proc.wait(timeout=30)
