"""Bucket policies over HTTP: a table of (policy, caller, request, expected) against a real server
with root, two declared credentials and anonymous callers; the policy API; public access blocks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
import yaml
from botocore.auth import HmacV1Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server, stop_server
from tests.integration.helpers import client_error, error_code

ALICE = ("AKPOLICYALICE0000001", "alice-secret-0123456789abcdefghijklmnop")  # no grants
BOB = ("AKPOLICYBOB000000001", "bob-secret-0123456789abcdefghijklmnopqr")  # readwrite on pm-*
ROOT = (ACCESS_KEY, SECRET_KEY)
CALLERS: dict[str, tuple[str, str] | None] = {"root": ROOT, "alice": ALICE, "bob": BOB, "anon": None}
ALICE_ARN = "arn:aws:iam::000000000000:user/alice"
BOB_ARN = "arn:aws:iam::000000000000:user/bob"


@dataclass
class Srv:
    url: str
    root: Any
    http: httpx.Client

    def send(
        self, caller: str, method: str, path: str, body: bytes = b"", sigv2: bool = False, **headers: str
    ) -> httpx.Response:
        url = self.url + path
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        key = CALLERS[caller]
        if key is not None:
            aws = AWSRequest(method=method, url=url, data=body, headers=hdrs)
            if sigv2:
                HmacV1Auth(Credentials(*key)).add_auth(aws)
            else:
                aws.context["payload_signing_enabled"] = True
                S3SigV4Auth(Credentials(*key), "s3", "us-east-1").add_auth(aws)
            prepared = aws.prepare()
            url, hdrs = prepared.url, dict(prepared.headers)
        return self.http.request(method, url, content=body, headers=hdrs)


def _start(tmp: Any, *args: str, env: dict[str, str] | None = None) -> Iterator[Srv]:
    declared = {
        "buckets": [
            {
                "name": "pm-declared",
                "policy": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                   "Resource": "arn:aws:s3:::pm-declared/*"}],
                },
                "publicAccessBlock": {"blockPublicAcls": True},
            }
        ],
        "credentials": [
            {"name": "alice", "accessKeyId": ALICE[0], "secretAccessKey": ALICE[1]},
            {"name": "bob", "accessKeyId": BOB[0], "secretAccessKey": BOB[1],
             "grants": [{"bucket": "pm-*", "access": "readwrite"}]},
        ],
    }
    (tmp / "declared.yaml").write_text(yaml.safe_dump(declared))
    proc, url = start_subprocess_server(tmp / "data", "--declared", str(tmp / "declared.yaml"), "--fsync", "never",
                                        *args, env=env)
    root = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name="us-east-1", config=BotoConfig(retries={"total_max_attempts": 1}))
    try:
        with httpx.Client(timeout=30) as http:
            yield Srv(url, root, http)
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Srv]:
    yield from _start(tmp_path_factory.mktemp("policy"))


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any = "*", action: Any = "s3:GetObject", resource: str = "B/*", **extra: Any) -> dict[str, Any]:
    out = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **extra}
    return {k: v for k, v in out.items() if v is not None}


def deny(principal: Any = "*", action: Any = "s3:*", resource: Any = ("B", "B/*"), **extra: Any) -> dict[str, Any]:
    out = {"Effect": "Deny", "Principal": principal, "Action": action, "Resource": list(resource), **extra}
    return {k: v for k, v in out.items() if v is not None}


def fill(text: str, bucket: str) -> str:
    # "B" in a resource stands for the row's own bucket.
    return text.replace('"B/', f'"arn:aws:s3:::{bucket}/').replace('"B"', f'"arn:aws:s3:::{bucket}"')


@dataclass(frozen=True)
class Req:
    method: str
    path: str  # after the bucket: "/pub/a", "?prefix=pub/" ...
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    sigv2: bool = False


GET_PUB = Req("GET", "/pub/a")
GET_PRIV = Req("GET", "/priv/b")
PUT = Req("PUT", "/pub/new", b"x")
LIST = Req("GET", "")
LIST_PUB = Req("GET", "?prefix=pub/")
DELETE = Req("DELETE", "/pub/a")
GET_POLICY = Req("GET", "?policy")

# (name, statements, caller, request, allowed)
ROWS: list[tuple[str, list[dict[str, Any]], str, Req, bool]] = [
    ("no-policy-anon", [], "anon", GET_PUB, False),
    ("no-policy-grant", [], "bob", GET_PUB, True),
    ("public-prefix", [allow(resource="B/pub/*")], "anon", GET_PUB, True),
    ("public-prefix-other-key", [allow(resource="B/pub/*")], "anon", GET_PRIV, False),
    ("public-prefix-no-put", [allow(resource="B/pub/*")], "anon", PUT, False),
    ("public-prefix-no-list", [allow(resource="B/pub/*")], "anon", LIST, False),
    ("user-arn-list", [allow({"AWS": ALICE_ARN}, "s3:ListBucket", "B")], "alice", LIST, True),
    ("user-arn-not-other", [allow({"AWS": ALICE_ARN}, "s3:ListBucket", "B")], "anon", LIST, False),
    ("user-arn-wildcard-action", [allow({"AWS": [ALICE_ARN]}, "s3:Put*")], "alice", PUT, True),
    ("user-arn-wildcard-no-get", [allow({"AWS": [ALICE_ARN]}, "s3:Put*")], "alice", GET_PUB, False),
    ("not-action", [allow({"AWS": ALICE_ARN}, None, NotAction="s3:DeleteObject")], "alice", GET_PUB, True),
    ("not-action-refuses", [allow({"AWS": ALICE_ARN}, None, NotAction="s3:DeleteObject")], "alice", DELETE, False),
    ("deny-beats-grant", [deny({"AWS": BOB_ARN}, "s3:GetObject")], "bob", GET_PUB, False),
    ("deny-only-that-action", [deny({"AWS": BOB_ARN}, "s3:GetObject")], "bob", PUT, True),
    ("deny-beats-allow", [allow(), deny(resource=["B/priv/*"])], "anon", GET_PRIV, False),
    ("deny-never-root", [deny()], "root", GET_PUB, True),
    ("deny-never-root-policy-api", [deny()], "root", GET_POLICY, True),
    ("not-principal-deny", [deny(None, NotPrincipal={"AWS": ALICE_ARN})], "bob", GET_PUB, False),
    ("not-principal-spares", [allow({"AWS": ALICE_ARN}), deny(None, NotPrincipal={"AWS": ALICE_ARN})],
     "alice", GET_PUB, True),
    ("tls-only-deny", [deny(Condition={"Bool": {"aws:SecureTransport": "false"}})], "bob", GET_PUB, False),
    ("tls-only-allow", [allow(Condition={"Bool": {"aws:SecureTransport": "true"}})], "anon", GET_PUB, False),
    ("source-ip", [allow(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})], "anon", GET_PUB, True),
    ("source-ip-not", [allow(Condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.1/32"}})], "anon", GET_PUB, False),
    ("prefix-cond", [allow({"AWS": ALICE_ARN}, "s3:ListBucket", "B",
                           Condition={"StringLike": {"s3:prefix": "pub/*"}})], "alice", LIST_PUB, True),
    ("prefix-cond-missing", [allow({"AWS": ALICE_ARN}, "s3:ListBucket", "B",
                                   Condition={"StringLike": {"s3:prefix": "pub/*"}})], "alice", LIST, False),
    ("existing-tag", [allow(Condition={"StringEquals": {"s3:ExistingObjectTag/class": "public"}})],
     "anon", GET_PUB, True),
    ("existing-tag-other", [allow(Condition={"StringEquals": {"s3:ExistingObjectTag/class": "public"}})],
     "anon", GET_PRIV, False),
    ("request-tag", [allow({"AWS": ALICE_ARN}, "s3:PutObject",
                           Condition={"StringEquals": {"s3:RequestObjectTag/team": "red"}})],
     "alice", Req("PUT", "/pub/new", b"x", (("x-amz-tagging", "team=red"),)), True),
    ("request-tag-missing", [allow({"AWS": ALICE_ARN}, "s3:PutObject",
                                   Condition={"StringEquals": {"s3:RequestObjectTag/team": "red"}})],
     "alice", PUT, False),
    ("username", [allow(Condition={"StringEquals": {"aws:username": "alice"}})], "alice", GET_PUB, True),
    ("username-anon", [allow(Condition={"StringEquals": {"aws:username": "alice"}})], "anon", GET_PUB, False),
    ("sigv4-only", [deny(Condition={"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}})],
     "bob", Req("GET", "/pub/a", sigv2=True), False),
    ("sigv4-only-v4", [deny(Condition={"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}})],
     "bob", GET_PUB, True),
    ("current-time", [allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}})],
     "anon", GET_PUB, False),
    ("max-keys", [allow({"AWS": ALICE_ARN}, "s3:ListBucket", "B",
                        Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}})],
     "alice", Req("GET", "?max-keys=5"), True),
    ("max-keys-over", [allow({"AWS": ALICE_ARN}, "s3:ListBucket", "B",
                             Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}})],
     "alice", Req("GET", "?max-keys=50"), False),
]


@pytest.mark.parametrize(("name", "statements", "caller", "req", "allowed"), ROWS, ids=[r[0] for r in ROWS])
def test_policy_matrix(
    srv: Srv, name: str, statements: list[dict[str, Any]], caller: str, req: Req, allowed: bool
) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    srv.root.put_object(Bucket=bucket, Key="pub/a", Body=b"a", Tagging="class=public")
    srv.root.put_object(Bucket=bucket, Key="priv/b", Body=b"b", Tagging="class=secret")
    if statements:
        srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(*statements), bucket))
    response = srv.send(caller, req.method, f"/{bucket}{req.path}", req.body, req.sigv2, **dict(req.headers))
    assert response.status_code < 500, response.text
    refused = response.status_code == 403
    if refused:
        assert error_code(response) == "AccessDenied"
    assert refused is not allowed, (response.status_code, response.text[:300])


def test_policy_api_round_trip(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        srv.root.get_bucket_policy(Bucket=bucket)
    assert client_error(exc.value) == ("NoSuchBucketPolicy", 404)
    with pytest.raises(ClientError) as exc:
        srv.root.get_bucket_policy_status(Bucket=bucket)
    assert client_error(exc.value) == ("NoSuchBucketPolicy", 404)
    text = fill(doc(allow({"AWS": ALICE_ARN})), bucket)
    srv.root.put_bucket_policy(Bucket=bucket, Policy=text)
    assert srv.root.get_bucket_policy(Bucket=bucket)["Policy"] == text
    assert srv.root.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(allow()), bucket))
    assert srv.root.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    srv.root.delete_bucket_policy(Bucket=bucket)
    srv.root.delete_bucket_policy(Bucket=bucket)  # S3: 204 again
    with pytest.raises(ClientError):
        srv.root.get_bucket_policy(Bucket=bucket)
    # Without a grant, only the policy can open the policy API, and it does.
    assert srv.send("alice", "GET", f"/{bucket}?policy").status_code == 403
    srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(allow({"AWS": ALICE_ARN}, "s3:GetBucketPolicy", "B")),
                                                           bucket))
    assert srv.send("alice", "GET", f"/{bucket}?policy").status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "first byte"),
        (b'{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",'
         b' "Resource": "arn:aws:s3:::someone-else/*"}]}', "invalid resource"),
        (b'{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:Fly",'
         b' "Resource": "*"}]}', "invalid action"),
        (b"{" + b" " * 21000 + b"}", "20 KB"),
    ],
)
def test_malformed_policy_is_refused_with_the_reason(srv: Srv, body: bytes, reason: str) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    response = srv.send("root", "PUT", f"/{bucket}?policy", body)
    assert response.status_code == 400
    assert error_code(response) == "MalformedPolicy"
    assert reason in response.text


def test_declared_policy_and_block_are_applied(srv: Srv) -> None:
    assert srv.send("anon", "GET", "/pm-declared/nothing-here").status_code == 404  # allowed, then NoSuchKey
    assert json.loads(srv.root.get_bucket_policy(Bucket="pm-declared")["Policy"])["Statement"][0]["Principal"] == "*"
    config = srv.root.get_public_access_block(Bucket="pm-declared")["PublicAccessBlockConfiguration"]
    assert config == {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                      "RestrictPublicBuckets": False}
    with pytest.raises(ClientError) as exc:
        srv.root.put_object(Bucket="pm-declared", Key="k", Body=b"x", ACL="public-read")
    assert client_error(exc.value) == ("AccessDenied", 403)


# --- public access block ------------------------------------------------------------------------


def _pab(srv: Srv, bucket: str, **flags: bool) -> None:
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    srv.root.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration={n: flags.get(n, False) for n in names}
    )


def test_public_access_block_api(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        srv.root.get_public_access_block(Bucket=bucket)
    assert client_error(exc.value) == ("NoSuchPublicAccessBlockConfiguration", 404)
    _pab(srv, bucket, IgnorePublicAcls=True)
    got = srv.root.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got["IgnorePublicAcls"] is True and got["BlockPublicAcls"] is False
    srv.root.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError):
        srv.root.get_public_access_block(Bucket=bucket)
    response = srv.send("root", "PUT", f"/{bucket}?publicAccessBlock",
                        b"<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls>"
                        b"</PublicAccessBlockConfiguration>")
    assert response.status_code == 400 and error_code(response) == "MalformedXML"


def test_block_public_acls_refuses_public_acls_at_write(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    _pab(srv, bucket, BlockPublicAcls=True)
    for call in (
        lambda: srv.root.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read"),
        lambda: srv.root.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
        lambda: srv.root.create_multipart_upload(Bucket=bucket, Key="k", ACL="authenticated-read"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc.value) == ("AccessDenied", 403)
    srv.root.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")  # a private ACL is fine


def test_ignore_public_acls_ignores_them_at_read(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket, ACL="public-read")
    srv.root.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert srv.send("anon", "GET", f"/{bucket}/k").status_code == 200
    assert srv.send("anon", "GET", f"/{bucket}").status_code == 200
    _pab(srv, bucket, IgnorePublicAcls=True)
    assert srv.send("anon", "GET", f"/{bucket}/k").status_code == 403
    assert srv.send("anon", "GET", f"/{bucket}").status_code == 403
    assert srv.send("bob", "GET", f"/{bucket}/k").status_code == 200  # grants are no ACLs


def test_block_public_policy_refuses_public_policies(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    _pab(srv, bucket, BlockPublicPolicy=True)
    with pytest.raises(ClientError) as exc:
        srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(allow()), bucket))
    assert client_error(exc.value) == ("AccessDenied", 403)
    pinned = allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(pinned), bucket))  # not public: accepted


def test_restrict_public_buckets_limits_a_public_policy(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    srv.root.put_object(Bucket=bucket, Key="k", Body=b"x")
    srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(allow(action="s3:*", resource="B/*")), bucket))
    assert srv.send("anon", "GET", f"/{bucket}/k").status_code == 200
    assert srv.send("alice", "GET", f"/{bucket}/k").status_code == 200
    _pab(srv, bucket, RestrictPublicBuckets=True)
    assert srv.send("anon", "GET", f"/{bucket}/k").status_code == 403
    assert srv.send("alice", "GET", f"/{bucket}/k").status_code == 403  # no grant on the bucket
    assert srv.send("bob", "GET", f"/{bucket}/k").status_code == 200  # granted: still served


def test_server_wide_block(tmp_path_factory: pytest.TempPathFactory) -> None:
    for wide in _start(tmp_path_factory.mktemp("pab"), env={"SMARTS3_PUBLIC_ACCESS_BLOCK": "all"}):
        wide.root.create_bucket(Bucket="pm-wide")
        with pytest.raises(ClientError) as exc:
            wide.root.put_object(Bucket="pm-wide", Key="k", Body=b"x", ACL="public-read")
        assert client_error(exc.value) == ("AccessDenied", 403)
        with pytest.raises(ClientError) as exc:
            wide.root.put_bucket_policy(Bucket="pm-wide", Policy=fill(doc(allow()), "pm-wide"))
        assert client_error(exc.value) == ("AccessDenied", 403)
        # A bucket's own configuration cannot lift the server's.
        _pab(wide, "pm-wide")
        with pytest.raises(ClientError):
            wide.root.put_object(Bucket="pm-wide", Key="k", Body=b"x", ACL="public-read")


def test_a_recreated_bucket_does_not_inherit_the_old_policy(srv: Srv) -> None:
    bucket = f"pm-{uuid.uuid4().hex[:12]}"
    srv.root.create_bucket(Bucket=bucket)
    srv.root.put_bucket_policy(Bucket=bucket, Policy=fill(doc(allow(action="s3:ListBucket", resource="B")), bucket))
    assert srv.send("anon", "GET", f"/{bucket}").status_code == 200
    srv.root.delete_bucket(Bucket=bucket)
    srv.root.create_bucket(Bucket=bucket)
    assert srv.send("anon", "GET", f"/{bucket}").status_code == 403
