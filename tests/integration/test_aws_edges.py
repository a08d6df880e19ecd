"""AWS-exact edge cases (issue 12): metadata encoding, headers, listing, auth corners, ACLs, buckets."""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterator
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import yaml
from botocore.auth import HmacV1Auth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from smarts3.s3.drain import DRAIN_MAX_BYTES
from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, start_subprocess_server, stop_server
from tests.integration.helpers import client_error, error_code, signed

pytestmark = pytest.mark.both_metadata


def _send(method: str, url: str, headers: dict[str, str], wire: str = "utf-8", *, v2: bool = False,
          body: bytes = b"") -> httpx.Response:
    """Sign the text of `headers` as botocore does, then send their values encoded as `wire`."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    request.context["payload_signing_enabled"] = True
    if v2:
        HmacV1Auth(Credentials(ACCESS_KEY, SECRET_KEY)).add_auth(request)
    else:
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    sent = [(name.encode("ascii"), str(value).encode(wire)) for name, value in prepared.headers.items()]
    return httpx.request(method, prepared.url, content=body, headers=sent, timeout=30)


def _rfc2047(value: str) -> str:
    return str(make_header(decode_header(value)))


# --- 1. Unicode user metadata ------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "v2"), [("utf-8", False), ("latin-1", False), ("utf-8", True),
                                          ("latin-1", True)])
def test_non_ascii_metadata_is_signed_as_sent_and_returned_mail_safe(
    server: Server, s3: Any, bucket: str, wire: str, v2: bool
) -> None:
    text = "héllo wörld" if wire == "latin-1" else "héllo 日本語"
    url = f"{server.url}/{bucket}/meta"
    response = _send("PUT", url, {"x-amz-meta-greeting": text}, wire, v2=v2, body=b"x")
    assert response.status_code == 200, response.text
    head = s3.head_object(Bucket=bucket, Key="meta")
    returned = head["Metadata"]["greeting"]
    assert returned.isascii() and returned.startswith("=?UTF-8?B?")
    assert _rfc2047(returned) == text
    assert "x-amz-missing-meta" not in head["ResponseMetadata"]["HTTPHeaders"]


def test_mime_encoded_metadata_round_trips_as_sent(s3: Any, bucket: str) -> None:
    encoded = "=?UTF-8?B?" + base64.b64encode("naïve ☃".encode()).decode() + "?="
    s3.put_object(Bucket=bucket, Key="mime", Body=b"x", Metadata={"m": encoded, "plain": "ascii ok"})
    meta = s3.head_object(Bucket=bucket, Key="mime")["Metadata"]
    assert meta == {"m": encoded, "plain": "ascii ok"}
    assert s3.get_object(Bucket=bucket, Key="mime")["Metadata"]["m"] == encoded


# --- 2. Content-Encoding -----------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "stored"), [
    ("deflate, gzip", "deflate, gzip"),
    ("gzip,  br", "gzip,  br"),
    ("aws-chunked, gzip", "gzip"),
    ("deflate, aws-chunked, gzip", "deflate, gzip"),
    ("aws-chunked", None),
])
def test_content_encoding_is_stored_as_sent_without_aws_chunked(
    s3: Any, bucket: str, sent: str, stored: str | None
) -> None:
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding=sent)
    head = s3.head_object(Bucket=bucket, Key="enc")
    assert head.get("ContentEncoding") == stored
    assert head["ResponseMetadata"]["HTTPHeaders"].get("content-encoding") == stored


# --- 3. x-amz-expected-bucket-owner ------------------------------------------------------------


def test_expected_bucket_owner_is_checked_on_bucket_and_object_requests(s3: Any, bucket: str) -> None:
    owner = s3.list_buckets()["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=owner)
    assert s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=owner)["Body"].read() == b"x"
    s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner)
    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
    other = "1" * 12
    calls = [
        lambda: s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other),
        lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"y", ExpectedBucketOwner=other),
        lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=other),
        lambda: s3.get_bucket_acl(Bucket=bucket, ExpectedBucketOwner=other),
        lambda: s3.delete_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other),
        lambda: s3.copy_object(Bucket=bucket, Key="k3", CopySource={"Bucket": bucket, "Key": "k"},
                               ExpectedSourceBucketOwner=other),
    ]
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert client_error(err.value) == ("AccessDenied", 403)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


# --- 4. Listing --------------------------------------------------------------------------------


def test_empty_continuation_token_lists_from_the_start(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    page = s3.list_objects_v2(Bucket=bucket, ContinuationToken="", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["a", "b"]
    assert page["ContinuationToken"] == ""
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=page["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == ["c"]


def _without_url_encoding(s3: Any) -> Any:
    """boto3 adds encoding-type=url to every listing; s3-tests unregister that to see raw XML."""
    from botocore.handlers import set_list_objects_encoding_type_url

    s3.meta.events.unregister("before-parameter-build.s3.ListObjects", set_list_objects_encoding_type_url)
    s3.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url)
    return s3


@pytest.mark.parametrize("prefix", ["\n", "line\nfeed/", "tab\there/", "cr\rx/"])
def test_prefix_with_control_characters_round_trips_unencoded(
    server: Server, bucket: str, prefix: str
) -> None:
    s3 = _without_url_encoding(server.client())
    s3.put_object(Bucket=bucket, Key=prefix + "k", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    v1 = s3.list_objects(Bucket=bucket, Prefix=prefix)
    for page in (v1, v2):
        assert page["Prefix"] == prefix
        assert [o["Key"] for o in page["Contents"]] == [prefix + "k"]
        assert "EncodingType" not in page
    delimited = s3.list_objects(Bucket=bucket, Delimiter=prefix[-1])
    assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == [prefix[: prefix.index(prefix[-1]) + 1]]


# --- 5. NoSuchBucket before authorization ------------------------------------------------------


def test_missing_bucket_is_no_such_bucket_even_for_anonymous(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public", Body=b"x", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"x")
    assert httpx.get(f"{server.url}/{bucket}/public").content == b"x"
    refused = httpx.get(f"{server.url}/{bucket}/private")
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")  # exists: still refused
    refused = httpx.get(f"{server.url}/{bucket}")
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "public"}, {"Key": "private"}]})
    s3.delete_bucket(Bucket=bucket)
    for url in (f"{server.url}/{bucket}/public", f"{server.url}/{bucket}", f"{server.url}/{bucket}?tagging",
                f"{server.url}/never-created-{bucket}/k"):
        response = httpx.get(url)
        assert (response.status_code, error_code(response)) == (404, "NoSuchBucket"), url
    assert httpx.head(f"{server.url}/{bucket}/public").status_code == 404
    created = httpx.put(f"{server.url}/{bucket}")  # creating is not a read of a missing bucket
    assert (created.status_code, error_code(created)) == (403, "AccessDenied")


# --- 6. Auth corners ---------------------------------------------------------------------------


def _raw_exchange(url: str, head: bytes, body: bytes = b"", *, read_first: bool = False) -> tuple[bytes, bytes]:
    """Send a request head over a plain socket; with `read_first`, read an answer before the body.

    Returns (first answer, rest). The server answers within the deadline or the test fails.
    """
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head)
        first = b""
        if read_first:
            first = _read_response(sock)
        if body:
            sock.sendall(body)
        rest = b"" if read_first and not body else _read_response(sock)
        return first, rest


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response (head plus a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _signed_head(method: str, url: str, headers: dict[str, str], *, drop: tuple[str, ...] = (),
                 v2: bool = False, body: bytes = b"") -> bytes:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    if v2:
        HmacV1Auth(Credentials(ACCESS_KEY, SECRET_KEY)).add_auth(request)
    else:
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    parsed = httpx.URL(prepared.url)
    lines = [f"{method} {parsed.raw_path.decode()} HTTP/1.1", f"Host: {parsed.netloc.decode()}"]
    lines += [f"{k}: {v}" for k, v in prepared.headers.items() if k.lower() not in drop and k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status_and_code(response: bytes) -> tuple[int, str | None]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    found = re.search(rb"<Code>([^<]+)</Code>", body)
    return status, found.group(1).decode() if found else None


@pytest.mark.parametrize(("expires", "code"), [(0, "AccessDenied"),
                                               (604801, "AuthorizationQueryParametersError")])
def test_presigned_expires_out_of_range_is_403(server: Server, bucket: str, expires: int, code: str) -> None:
    server.client().put_object(Bucket=bucket, Key="k", Body=b"x")
    request = AWSRequest(method="GET", url=f"{server.url}/{bucket}/k")
    # botocore's presigner refuses 0 itself; its query signer signs any value.
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", expires=expires).add_auth(request)
    assert f"X-Amz-Expires={expires}&" in request.prepare().url
    response = httpx.get(request.prepare().url)
    assert (response.status_code, error_code(response)) == (403, code)


def test_empty_or_missing_authorization_is_access_denied(server: Server, s3: Any, bucket: str) -> None:
    for headers in ({"Authorization": ""}, {}):
        response = httpx.put(f"{server.url}/{bucket}/anon", content=b"x", headers=headers)
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_put_without_content_length_is_411(server: Server, s3: Any, bucket: str) -> None:
    url = f"{server.url}/{bucket}/nolength"
    head = _signed_head("PUT", url, {}, drop=("content-length",))
    assert b"content-length" not in head.lower()
    _, response = _raw_exchange(url, head)
    assert _status_and_code(response) == (411, "MissingContentLength")
    head = _signed_head("PUT", url, {}, drop=("content-length",), body=b"hello")
    chunked = head[:-2] + b"Transfer-Encoding: chunked\r\n\r\n"
    _, response = _raw_exchange(url, chunked, b"5\r\nhello\r\n0\r\n\r\n")
    assert _status_and_code(response)[0] == 200  # HTTP chunked framing carries its own length
    assert s3.get_object(Bucket=bucket, Key="nolength")["Body"].read() == b"hello"


@pytest.mark.parametrize("date", [None, "Tue, 07 Jul 1950 21:53:04 GMT"])
def test_sigv2_without_a_date_or_before_the_epoch_is_access_denied(
    server: Server, bucket: str, date: str | None
) -> None:
    url = f"{server.url}/{bucket}/v2date"
    signed_headers = HTTPHeaders()
    signed_headers["Date"] = date or ""  # no Date: the string to sign has an empty date line
    signature = HmacV1Auth(Credentials(ACCESS_KEY, SECRET_KEY)).get_signature(
        "PUT", urlsplit(url), signed_headers)
    headers = {"Authorization": f"AWS {ACCESS_KEY}:{signature}", **({"Date": date} if date else {})}
    response = httpx.put(url, content=b"x", headers=headers)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")


# --- 8. Request payer, torrent, SSE headers on reads -------------------------------------------


def test_request_payer_is_accepted_and_not_charged_to_the_owner(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", RequestPayer="requester")
    got = s3.get_object(Bucket=bucket, Key="k", RequestPayer="requester")
    assert got["Body"].read() == b"x"
    assert "x-amz-request-charged" not in got["ResponseMetadata"]["HTTPHeaders"]
    listed = s3.list_objects_v2(Bucket=bucket, RequestPayer="requester")
    assert [o["Key"] for o in listed["Contents"]] == ["k"]


def test_get_object_torrent_is_not_implemented(s3: Any, bucket: str) -> None:
    """AWS no longer serves BitTorrent; smarts3 never did: NotImplemented, as for other unbuilt features."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.get_object_torrent(Bucket=bucket, Key="k")
    assert client_error(err.value) == ("NotImplemented", 501)


@pytest.mark.parametrize("headers", [
    {"x-amz-server-side-encryption": "aws:kms"},
    {"x-amz-server-side-encryption": "AES256"},
    {"x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:1:key/k"},
])
def test_read_with_sse_request_headers_is_invalid_argument(
    server: Server, s3: Any, bucket: str, headers: dict[str, str]
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    response = signed("GET", f"{server.url}/{bucket}/k", headers=headers)
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
    assert signed("HEAD", f"{server.url}/{bucket}/k", headers=headers).status_code == 400


# --- 9. ACL and bucket details -----------------------------------------------------------------

OTHER = ("TEAMADMINKEY0000001", "team-admin-secret-00000000000000000001")


@pytest.fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server where a second credential may create (admin) the buckets named team-*."""
    from smarts3.config.settings import Settings
    from smarts3.pytest_plugin import serving

    base = tmp_path_factory.mktemp("edges")
    declared = base / "declared.yaml"
    declared.write_text(yaml.safe_dump({"credentials": [
        {"name": "team", "accessKeyId": OTHER[0], "secretAccessKey": OTHER[1],
         "grants": [{"bucket": "team-*", "access": "admin"}]}]}))
    with serving(Settings(data_dir=base / "data", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                          declared=declared)) as url:
        yield url


def _client(url: str, key: tuple[str, str], region: str = "us-east-1") -> Any:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        region_name=region, config=BotoConfig(retries={"total_max_attempts": 1}))


def test_create_bucket_again(team_server: str) -> None:
    root, team = _client(team_server, (ACCESS_KEY, SECRET_KEY)), _client(team_server, OTHER)
    team.create_bucket(Bucket="team-mine")
    team.put_object(Bucket="team-mine", Key="kept", Body=b"x")
    team.create_bucket(Bucket="team-mine")  # us-east-1: 200, and nothing is lost
    assert [o["Key"] for o in team.list_objects_v2(Bucket="team-mine")["Contents"]] == ["kept"]
    root.create_bucket(Bucket="team-roots")
    with pytest.raises(ClientError) as err:
        team.create_bucket(Bucket="team-roots")  # may create team-*, but this one is root's
    assert client_error(err.value) == ("BucketAlreadyExists", 409)
    with pytest.raises(ClientError) as err:
        root.create_bucket(Bucket="team-mine")
    assert client_error(err.value) == ("BucketAlreadyExists", 409)
    europe = _client(team_server, OTHER, "eu-west-1")
    europe.create_bucket(Bucket="team-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as err:
        europe.create_bucket(Bucket="team-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert client_error(err.value) == ("BucketAlreadyOwnedByYou", 409)
    with pytest.raises(ClientError) as err:  # no grant on other names: still refused, as before
        team.create_bucket(Bucket="team-mine".replace("team", "else"))
    assert client_error(err.value) == ("AccessDenied", 403)


@pytest.mark.parametrize("canned", ["private", "public-read", "public-read-write", "authenticated-read",
                                    "bucket-owner-read", "bucket-owner-full-control"])
def test_acl_grants_name_every_grantee_and_carry_no_display_name(s3: Any, bucket: str, canned: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL=canned)
    owner = s3.list_buckets()["Owner"]["ID"]
    for acl in (s3.get_object_acl(Bucket=bucket, Key="k"), s3.get_bucket_acl(Bucket=bucket)):
        assert acl["Owner"] == {"ID": owner}
        grants = acl["Grants"]
        assert grants and all("DisplayName" not in g["Grantee"] for g in grants)
        # What SDK helpers sort and compare by: every grantee has an ID or a URI.
        assert sorted(grants, key=lambda g: (g["Grantee"].get("ID") or g["Grantee"]["URI"], g["Permission"]))
        assert {"Grantee": {"ID": owner, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"} in grants


def test_tag_sets_come_back_sorted_by_key(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="zeta=1&Alpha=2&beta=3&%C3%A9t%C3%A9=4")
    expected = ["Alpha", "beta", "zeta", "été"]
    assert [t["Key"] for t in s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]] == expected
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
        {"Key": "y", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "m", "Value": "3"}]})
    assert [t["Key"] for t in s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]] == ["b", "m", "y"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
        {"Key": "q", "Value": "1"}, {"Key": "c", "Value": "2"}]})
    assert [t["Key"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]] == ["c", "q"]


def test_cors_origin_with_a_wildcard_inside_matches(server: Server, s3: Any, bucket: str) -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*.example.com", "http://*.example.org"], "AllowedMethods": ["GET"]}]})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    for origin in ("https://app.example.com", "http://a.b.example.org"):
        pre = httpx.options(f"{server.url}/{bucket}/k",
                            headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
        assert pre.status_code == 200, (origin, pre.text)
        assert pre.headers["access-control-allow-origin"] == origin
        got = httpx.get(f"{server.url}/{bucket}/k", headers={"Origin": origin})
        assert got.headers.get("access-control-allow-origin") == origin
    for origin in ("https://example.com.evil.net", "https://app.example.org", "http://example.org"):
        pre = httpx.options(f"{server.url}/{bucket}/k",
                            headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
        assert pre.status_code == 403, origin


@pytest.mark.parametrize("raw_key", ["%FF", "a%C3", "%C3%28", "%ED%A0%80"])
def test_key_that_is_not_utf8_is_400(server: Server, s3: Any, bucket: str, raw_key: str) -> None:
    url = f"{server.url}/{bucket}/{raw_key}"
    for method, body in (("PUT", b"x"), ("GET", b""), ("DELETE", b"")):
        response = signed(method, url, body=body)
        assert (response.status_code, error_code(response)) == (400, "InvalidURI"), method
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    copied = signed("PUT", f"{server.url}/{bucket}/dst", headers={"x-amz-copy-source": f"{bucket}/{raw_key}"})
    assert copied.status_code == 400, copied.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]


# --- 7. Expect: 100-continue -------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`smarts3 serve` itself: the interim 100 is the HTTP server's business, not the app's."""
    proc, url = start_subprocess_server(tmp_path_factory.mktemp("expect"))
    yield url
    stop_server(proc)


def test_expect_100_continue_waits_for_authorization(served: str) -> None:
    root = _client(served, (ACCESS_KEY, SECRET_KEY))
    root.create_bucket(Bucket="expect")
    body = b"y" * 4096
    url = f"{served}/expect/k"
    expect = {"Expect": "100-continue", "Content-Length": str(len(body))}
    # Authorized: 100 Continue first, the final answer only after the body.
    head = _signed_head("PUT", url, {"Content-Length": str(len(body))}, body=body)
    head = head[:-2] + b"Expect: 100-continue\r\n\r\n"
    interim, final = _raw_exchange(url, head, body, read_first=True)
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    assert _status_and_code(final) == (200, None)
    assert root.get_object(Bucket="expect", Key="k")["Body"].read() == body
    # Refused (anonymous, then a bad signature): the 403 comes at once, with no 100 before it.
    bad = _signed_head("PUT", url, {"Content-Length": str(len(body))}, body=body).replace(
        b"Signature=", b"Signature=0")
    for refused_head in (
        f"PUT /expect/k HTTP/1.1\r\nHost: {httpx.URL(served).netloc.decode()}\r\n".encode()
        + "".join(f"{k}: {v}\r\n" for k, v in expect.items()).encode() + b"\r\n",
        bad[:-2] + b"Expect: 100-continue\r\n\r\n",
    ):
        answer, _ = _raw_exchange(url, refused_head, read_first=True)
        assert b"100 Continue" not in answer
        assert _status_and_code(answer)[0] == 403, answer
    assert root.get_object(Bucket="expect", Key="k")["Body"].read() == body
    # botocore sends Expect: 100-continue on bodies over 1 MiB; a refusal reaches it as the S3 error
    # (it needs the reason phrase in "HTTP/1.1 403 Forbidden" to read that status line as final).
    wrong = _client(served, (ACCESS_KEY, "not-the-secret"))
    with pytest.raises(ClientError) as err:
        wrong.put_object(Bucket="expect", Key="big", Body=b"z" * (2 * 1024 * 1024))
    assert client_error(err.value) == ("SignatureDoesNotMatch", 403)
    root.put_object(Bucket="expect", Key="big", Body=b"z" * (2 * 1024 * 1024))
    assert root.head_object(Bucket="expect", Key="big")["ContentLength"] == 2 * 1024 * 1024


def test_refusal_before_the_body_closes_the_connection_and_says_so(served: str) -> None:
    """A 403 sent before a body was read: a body up to DRAIN_MAX_BYTES is read and discarded first,
    so the connection lives on (s3/drain.py); a larger one ends it, and `Connection: close` on the
    answer keeps a pooling client from sending its next request down that connection."""
    _client(served, (ACCESS_KEY, SECRET_KEY)).create_bucket(Bucket="refusals")
    with httpx.Client(timeout=30) as http:
        for _ in range(10):
            refused = http.put(f"{served}/refusals/k", content=b"x" * 8_000_000)
            assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
            assert refused.headers.get("connection") != "close"
            assert refused.reason_phrase == "Forbidden"
            assert http.get(f"{served}/refusals/k").status_code == 403
        refused = http.put(f"{served}/refusals/k", content=b"x" * (DRAIN_MAX_BYTES + 1))
        assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
        assert refused.headers["connection"] == "close"
        assert http.get(f"{served}/refusals/k").status_code == 403  # a new connection, no error
