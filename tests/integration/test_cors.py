"""CORS over real HTTP: bucket configuration with boto3, preflights and actual requests with httpx."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import httpx
import pytest
import yaml
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, start_subprocess_server
from tests.integration.helpers import client_error, error_code, signed

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
SITE = "https://app.example.com"
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
CORS_HEADERS = (
    "access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
    "access-control-expose-headers", "access-control-max-age", "access-control-allow-credentials", "vary",
)

RULES: list[dict[str, Any]] = [
    {"ID": "site", "AllowedOrigins": [SITE, "https://*.example.com"], "AllowedMethods": ["GET", "PUT", "HEAD"],
     "AllowedHeaders": ["Content-Type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
     "MaxAgeSeconds": 3000},
    {"ID": "public", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


def preflight(url: str, origin: str | None, method: str | None, request_headers: str | None = None) -> httpx.Response:
    headers = {}
    if origin is not None:
        headers["Origin"] = origin
    if method is not None:
        headers["Access-Control-Request-Method"] = method
    if request_headers is not None:
        headers["Access-Control-Request-Headers"] = request_headers
    return httpx.options(url, headers=headers)


def error(response: httpx.Response) -> tuple[int, str, str, dict[str, str]]:
    """(status, code, message, the other fields) of an S3 error response."""
    code = error_code(response)
    root = ET.fromstring(response.content)
    fields = {child.tag: child.text or "" for child in root
              if child.tag not in ("Code", "Message", "RequestId", "HostId", "Resource")}
    return response.status_code, code, root.findtext("Message") or "", fields


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in CORS_HEADERS if name in response.headers}


@pytest.fixture
def cors_bucket(s3: Any, bucket: str) -> str:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    return bucket


# --- Put/Get/DeleteBucketCors ---------------------------------------------------------------------


def test_put_get_delete_round_trip(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    replacement = [{"AllowedOrigins": ["http://localhost:*"], "AllowedMethods": ["DELETE"]}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": replacement})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == replacement
    response = s3.delete_bucket_cors(Bucket=bucket)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchCORSConfiguration", 404)
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_configuration_keeps_other_bucket_settings(s3: Any, server: Server, bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES[1:]})
    s3.put_object(Bucket=bucket, Key="k", Body=b"open")
    assert "<Key>k</Key>" in httpx.get(f"{server.url}/{bucket}").text  # the ACL (it opens the listing) survived
    s3.delete_bucket_cors(Bucket=bucket)
    assert "<Key>k</Key>" in httpx.get(f"{server.url}/{bucket}").text


@pytest.mark.parametrize(("rule", "code", "message"), [
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    ({"AllowedOrigins": ["https://*.example.*"], "AllowedMethods": ["GET"]}, "InvalidRequest",
     'AllowedOrigin "https://*.example.*" can not have more than one wildcard.'),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}, "InvalidRequest",
     'AllowedHeader "x-*-*" can not have more than one wildcard.'),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-amz-*"]}, "InvalidRequest",
     'ExposeHeader "x-amz-*" contains wildcard. We currently do not support wildcard for ExposeHeader.'),
])
def test_put_rejects_invalid_rules(s3: Any, bucket: str, rule: dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert client_error(err.value) == (code, 400)
    assert err.value.response["Error"]["Message"] == message
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)  # nothing was stored


def test_put_rejects_malformed_documents(s3: Any, server: Server, bucket: str) -> None:
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    with pytest.raises(ClientError) as err:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 101})
    assert client_error(err.value) == ("MalformedXML", 400)
    url = f"{server.url}/{bucket}?cors"
    for body in (b"<CORSConfiguration/>", b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                 b"</CORSRule></CORSConfiguration>", b"<nope"):
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        response = signed("PUT", url, body=body, headers={"Content-MD5": md5})
        assert (response.status_code, error_code(response)) == (400, "MalformedXML"), body


def test_put_needs_an_integrity_header(server: Server, bucket: str) -> None:
    body = (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            b"</CORSRule></CORSConfiguration>")
    url = f"{server.url}/{bucket}?cors"
    response = signed("PUT", url, body=body)
    assert (response.status_code, error_code(response)) == (400, "InvalidRequest")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = signed("PUT", url, body=body, headers={"Content-MD5": wrong})
    assert (response.status_code, error_code(response)) == (400, "BadDigest")
    right = base64.b64encode(hashlib.md5(body).digest()).decode()
    assert signed("PUT", url, body=body, headers={"Content-MD5": right}).status_code == 200


def test_cors_operations_on_a_missing_bucket(s3: Any) -> None:
    for call in (lambda: s3.get_bucket_cors(Bucket="no-such-cors-bucket"),
                 lambda: s3.delete_bucket_cors(Bucket="no-such-cors-bucket"),
                 lambda: s3.put_bucket_cors(Bucket="no-such-cors-bucket", CORSConfiguration={"CORSRules": RULES})):
        with pytest.raises(ClientError) as err:
            call()
        assert client_error(err.value) == ("NoSuchBucket", 404)


# --- preflight ------------------------------------------------------------------------------------


def test_preflight_allowed(server: Server, cors_bucket: str) -> None:
    response = preflight(f"{server.url}/{cors_bucket}/photo.jpg", SITE, "PUT", "Content-Type, X-Amz-Date")
    assert response.status_code == 200
    assert response.content == b""
    assert cors_headers(response) == {
        "access-control-allow-origin": SITE,
        "access-control-allow-methods": "GET, PUT, HEAD",
        "access-control-allow-headers": "content-type, x-amz-date",
        "access-control-expose-headers": "ETag, x-amz-request-id",
        "access-control-max-age": "3000",
        "access-control-allow-credentials": "true",
        "vary": VARY,
    }
    assert response.headers["x-amz-request-id"]


def test_preflight_on_the_bucket(server: Server, cors_bucket: str) -> None:
    response = preflight(f"{server.url}/{cors_bucket}", SITE, "GET")
    assert response.status_code == 200
    assert "access-control-allow-headers" not in response.headers


def test_preflight_wildcard_origin(server: Server, cors_bucket: str) -> None:
    url = f"{server.url}/{cors_bucket}/k"
    response = preflight(url, "https://upload.example.com", "PUT", "content-type")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://upload.example.com"
    # the pattern does not stretch across the scheme or a port
    assert preflight(url, "http://upload.example.com", "PUT").status_code == 403
    assert preflight(url, "https://upload.example.com:8443", "PUT").status_code == 403


def test_preflight_first_matching_rule_wins(server: Server, cors_bucket: str) -> None:
    url = f"{server.url}/{cors_bucket}/k"
    # both rules allow SITE with GET: the first decides (echoed origin, credentials, max-age)
    first = preflight(url, SITE, "GET")
    assert first.headers["access-control-allow-origin"] == SITE
    assert first.headers["access-control-max-age"] == "3000"
    # a header only the first rule allows does not leak into the second
    other = preflight(url, "https://elsewhere.test", "GET")
    assert cors_headers(other) == {"access-control-allow-origin": "*", "access-control-allow-methods": "GET",
                                   "vary": VARY}
    assert preflight(url, "https://elsewhere.test", "GET", "content-type").status_code == 403


@pytest.mark.parametrize(("origin", "method", "request_headers", "resource"), [
    ("https://evil.test", "PUT", None, "OBJECT"),  # origin only the * rule allows, and it has no PUT
    ("https://app.Example.com", "PUT", None, "OBJECT"),  # origins are case-sensitive
    (SITE, "DELETE", None, "OBJECT"),  # method no rule allows
    (SITE, "PUT", "content-type, authorization", "OBJECT"),  # one header no rule allows
    ("https://evil.test", "GET", "content-type", "BUCKET"),  # the * rule allows no header
])
def test_preflight_not_allowed(
    server: Server, cors_bucket: str, origin: str, method: str, request_headers: str | None, resource: str
) -> None:
    url = f"{server.url}/{cors_bucket}" + ("/k" if resource == "OBJECT" else "")
    response = preflight(url, origin, method, request_headers)
    assert error(response) == (403, "AccessForbidden", NOT_ALLOWED, {"Method": method, "ResourceType": resource})
    assert cors_headers(response) == {}


@pytest.mark.parametrize(("origin", "method", "message"), [
    (None, "GET", "Insufficient information. Origin request header needed."),
    ("", "GET", "Insufficient information. Origin request header needed."),
    (None, None, "Insufficient information. Origin request header needed."),
    (SITE, None, "Invalid Access-Control-Request-Method: null"),
    (SITE, "PATCH", "Invalid Access-Control-Request-Method: PATCH"),
    (SITE, "get", "Invalid Access-Control-Request-Method: get"),
])
def test_preflight_bad_request(server: Server, cors_bucket: str, origin: str | None, method: str | None,
                               message: str) -> None:
    response = preflight(f"{server.url}/{cors_bucket}/k", origin, method)
    assert error(response)[:3] == (400, "BadRequest", message)


def test_preflight_without_configuration(server: Server, bucket: str) -> None:
    response = preflight(f"{server.url}/{bucket}/k", SITE, "GET")
    assert error(response) == (403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.",
                               {"Method": "GET", "ResourceType": "OBJECT"})
    response = preflight(f"{server.url}/no-such-cors-bucket/k", SITE, "GET")
    assert error(response)[:3] == (403, "AccessForbidden", "CORSResponse: Bucket not found")


def test_preflight_vhost_style(server: Server, cors_bucket: str) -> None:
    response = httpx.options(f"{server.url}/k", headers={
        "Host": f"{cors_bucket}.s3.smarts3.test", "Origin": SITE, "Access-Control-Request-Method": "HEAD"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE


def test_configuration_change_applies_at_once(s3: Any, server: Server, cors_bucket: str) -> None:
    url = f"{server.url}/{cors_bucket}/k"
    assert preflight(url, SITE, "DELETE").status_code == 403
    s3.put_bucket_cors(Bucket=cors_bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [SITE], "AllowedMethods": ["DELETE"]}]})
    assert preflight(url, SITE, "DELETE").status_code == 200
    s3.delete_bucket_cors(Bucket=cors_bucket)
    assert preflight(url, SITE, "DELETE").status_code == 403


# --- actual requests ------------------------------------------------------------------------------


def test_actual_request_headers(s3: Any, server: Server, cors_bucket: str) -> None:
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"data")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": cors_bucket, "Key": "k"}, ExpiresIn=300)
    response = httpx.get(url, headers={"Origin": SITE})
    assert response.content == b"data"
    assert cors_headers(response) == {
        "access-control-allow-origin": SITE,
        "access-control-allow-methods": "GET, PUT, HEAD",
        "access-control-expose-headers": "ETag, x-amz-request-id",
        "access-control-max-age": "3000",
        "access-control-allow-credentials": "true",
        "vary": VARY,
    }
    anywhere = httpx.get(url, headers={"Origin": "https://elsewhere.test"})
    assert cors_headers(anywhere) == {"access-control-allow-origin": "*", "access-control-allow-methods": "GET",
                                      "vary": VARY}
    assert cors_headers(httpx.get(url)) == {}  # no Origin, no CORS


def test_actual_request_without_matching_rule(s3: Any, cors_bucket: str) -> None:
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"data")
    url = s3.generate_presigned_url("delete_object", Params={"Bucket": cors_bucket, "Key": "k"}, ExpiresIn=300)
    response = httpx.delete(url, headers={"Origin": SITE})  # DELETE is in no rule
    assert response.status_code == 204
    assert cors_headers(response) == {}


def test_error_responses_carry_cors_headers(s3: Any, server: Server, cors_bucket: str) -> None:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": cors_bucket, "Key": "missing"}, ExpiresIn=300)
    response = httpx.get(url, headers={"Origin": SITE})
    assert (response.status_code, error_code(response)) == (404, "NoSuchKey")
    assert response.headers["access-control-allow-origin"] == SITE
    denied = httpx.get(f"{server.url}/{cors_bucket}/missing", headers={"Origin": SITE})  # unsigned
    assert (denied.status_code, error_code(denied)) == (403, "AccessDenied")
    assert denied.headers["access-control-allow-origin"] == SITE  # the browser can read why


def test_browser_upload_flow(server: Server, bucket: str) -> None:
    """What a web page does to upload straight to a bucket with a presigned URL."""
    s3v4 = server.client(signature_version="s3v4")
    s3v4.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES[:1]})  # the site only
    cors_bucket = bucket
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": cors_bucket, "Key": "upload.txt"},
                                      ExpiresIn=300)
    check = preflight(url.split("?")[0], SITE, "PUT", "content-type")
    assert check.status_code == 200
    assert check.headers["access-control-allow-origin"] == SITE
    assert check.headers["access-control-allow-headers"] == "content-type"
    assert "PUT" in check.headers["access-control-allow-methods"].split(", ")

    upload = httpx.put(url, content=b"from the browser", headers={"Origin": SITE, "Content-Type": "text/plain"})
    assert upload.status_code == 200, upload.text
    assert upload.headers["access-control-allow-origin"] == SITE
    assert upload.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert upload.headers["etag"]
    assert upload.headers["vary"] == VARY

    got = s3v4.get_object(Bucket=cors_bucket, Key="upload.txt")
    assert (got["Body"].read(), got["ContentType"]) == (b"from the browser", "text/plain")
    get_url = s3v4.generate_presigned_url("get_object", Params={"Bucket": cors_bucket, "Key": "upload.txt"},
                                          ExpiresIn=300)
    foreign = httpx.put(url, content=b"x", headers={"Origin": "https://evil.test"})
    assert foreign.status_code == 200  # CORS is the browser's business: the signature still authorises
    assert cors_headers(foreign) == {}
    stranger = httpx.get(get_url, headers={"Origin": "http://app.example.com"})  # http, not https
    assert stranger.status_code == 200
    assert cors_headers(stranger) == {}


# --- declared rules and the global policy ----------------------------------------------------------

GLOBAL = [{"allowedOrigins": ["https://global.test"], "allowedMethods": ["GET"], "maxAgeSeconds": 60}]
DECLARED = {
    "buckets": [
        {"name": "declared-cors", "cors": [
            {"allowedOrigins": ["https://*.declared.test"], "allowedMethods": ["GET", "PUT"],
             "allowedHeaders": ["*"], "exposeHeaders": ["ETag"], "id": "from-file"}]},
        {"name": "declared-plain"},
    ],
}


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("cors")
    path: Path = base / "declared.yaml"
    path.write_text(yaml.safe_dump(DECLARED))
    proc, url = start_subprocess_server(base / "data", "--declared", str(path),
                                        env={"SMARTS3_CORS": json.dumps(GLOBAL)})
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_declared_rules_apply(layered: str) -> None:
    response = preflight(f"{layered}/declared-cors/k", "https://web.declared.test", "PUT", "x-custom")
    assert response.status_code == 200
    assert response.headers["access-control-expose-headers"] == "ETag"
    # declared rules replace the global policy for that bucket
    assert preflight(f"{layered}/declared-cors/k", "https://global.test", "GET").status_code == 403


def test_global_policy_applies_to_other_buckets(layered: str) -> None:
    response = preflight(f"{layered}/declared-plain/k", "https://global.test", "GET")
    assert response.status_code == 200
    assert response.headers["access-control-max-age"] == "60"
    assert preflight(f"{layered}/declared-plain/k", "https://global.test", "PUT").status_code == 403
    actual = httpx.get(f"{layered}/declared-plain/k", headers={"Origin": "https://global.test"})
    assert actual.status_code == 403  # unsigned: AccessDenied, with the CORS headers
    assert actual.headers["access-control-allow-origin"] == "https://global.test"


def test_bucket_configuration_overrides_declared_and_global(layered: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=layered, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="us-east-1")
    own = [{"AllowedOrigins": ["https://own.test"], "AllowedMethods": ["HEAD"]}]
    for name in ("declared-cors", "declared-plain"):
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": own})
        try:
            assert preflight(f"{layered}/{name}/k", "https://own.test", "HEAD").status_code == 200
            assert preflight(f"{layered}/{name}/k", "https://global.test", "GET").status_code == 403
            assert preflight(f"{layered}/{name}/k", "https://web.declared.test", "GET").status_code == 403
        finally:
            s3.delete_bucket_cors(Bucket=name)
    # GetBucketCors shows the bucket's own configuration only
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket="declared-cors")
    assert client_error(err.value) == ("NoSuchCORSConfiguration", 404)
    assert preflight(f"{layered}/declared-cors/k", "https://web.declared.test", "GET").status_code == 200
