"""The operation → access table, row by row over HTTP.

For every implemented operation (and the variants that touch a second resource or widen an ACL), every
principal (root, a credential at each grant level, one granted only other buckets, one with no grant that
ACLs name, anonymous) and every kind of bucket/object (private, canned public-read / public-read-write /
authenticated-read, declared publicRead, a public-read object in a private bucket, a bucket and object whose
ACLs grant that credential by canonical id), the request must be refused with 403 AccessDenied exactly
when the table in smarts3.access.actions and AWS's ACL permissions (written out below) say so, and allowed
(any other answer, never a 500) otherwise. The expectation is computed here from the table's data,
independently of the authorizer.

Requests are built so that an allowed one leaves the fixtures as they were: deletes and overwrites aim at
a scratch key, ACL writes repeat the current ACL, CreateBucket hits an existing bucket, DeleteBucket a
non-empty one, CompleteMultipartUpload sends no parts and AbortMultipartUpload an unknown upload id.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import boto3
import httpx
import pytest
import yaml
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

from smarts3.access.actions import ACCESS, Extra, Public
from smarts3.s3.dispatch import HANDLERS
from smarts3.s3.operations import Op
from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server

LEVELS = {  # written out here, not imported: the test states what each level means
    "read": {"read", "list"},
    "write": {"write"},
    "readwrite": {"read", "list", "write"},
    "admin": {"read", "list", "write", "admin"},
}
PUBLIC = {"public-read", "public-read-write"}
NARROW = {None, "private", "bucket-owner-read", "bucket-owner-full-control"}
# The ACL permission each operation needs (AWS's ACL → action mapping), on the bucket's ACL or the object's.
ACL_BUCKET = {
    "READ": {Op.LIST_OBJECTS, Op.LIST_OBJECTS_V2, Op.HEAD_BUCKET, Op.GET_BUCKET_LOCATION, Op.LIST_OBJECT_VERSIONS,
             Op.LIST_MULTIPART_UPLOADS, Op.LIST_PARTS},
    "WRITE": {Op.PUT_OBJECT, Op.COPY_OBJECT, Op.DELETE_OBJECT, Op.DELETE_OBJECTS, Op.CREATE_MULTIPART_UPLOAD,
              Op.UPLOAD_PART, Op.UPLOAD_PART_COPY, Op.COMPLETE_MULTIPART_UPLOAD, Op.ABORT_MULTIPART_UPLOAD},
    "READ_ACP": {Op.GET_BUCKET_ACL},
    "WRITE_ACP": {Op.PUT_BUCKET_ACL},
}
ACL_OBJECT = {
    "READ": {Op.GET_OBJECT, Op.HEAD_OBJECT, Op.GET_OBJECT_ATTRIBUTES},
    "READ_ACP": {Op.GET_OBJECT_ACL},
    "WRITE_ACP": {Op.PUT_OBJECT_ACL},
}
GRANTEE = "grantee"  # a credential with no declared grant, named by ACLs
CANONICAL_IDS: dict[str, str] = {}  # name → canonical id, as ListBuckets reports it (filled by the fixture)


@dataclass(frozen=True)
class Principal:
    name: str
    key: tuple[str, str] | None  # None: anonymous
    grants: tuple[tuple[str, str], ...] = ()  # (bucket glob, level)
    root: bool = False

    def granted(self, action: str, bucket: str | None) -> bool:
        if self.root:
            return True
        if self.key is None:
            return False
        if action == "service":
            return True
        return bucket is not None and any(
            fnmatch.fnmatchcase(bucket, pattern) and action in LEVELS[level] for pattern, level in self.grants
        )


def _declared(name: str, level: str, pattern: str = "mx-*") -> Principal:
    key = (f"MX{name.upper():0<18}"[:20], f"{name}-secret-".ljust(40, "0"))
    return Principal(name, key, ((pattern, level),))


PRINCIPALS = [
    Principal("root", (ACCESS_KEY, SECRET_KEY), root=True),
    _declared("admin", "admin"),
    _declared("readwrite", "readwrite"),
    _declared("read", "read"),
    _declared("write", "write"),
    _declared("other", "admin", "elsewhere-*"),
    Principal(GRANTEE, (f"MX{GRANTEE.upper():0<18}", "grantee-secret-".ljust(40, "0"))),
    Principal("anonymous", None),
]


@dataclass(frozen=True)
class Kind:
    name: str
    bucket: str
    bucket_acl: str | None = None
    object_acl: str | None = None
    declared_public: bool = False
    bucket_grants: tuple[tuple[str, str], ...] = ()  # (grantee name, permission) by x-amz-grant-*
    object_grants: tuple[tuple[str, str], ...] = ()

    def acl_allows(self, on: str, permission: str, principal: Principal) -> bool:
        """What the kind's ACL grants beyond what public_allows covers: AllUsers WRITE of
        public-read-write, and the grants to a named credential."""
        if permission == "OPEN":  # an ACL on what is created: WRITE_ACP, or AllUsers WRITE (issue 13, as AWS)
            return self.bucket_acl == "public-read-write" or self.acl_allows(on, "WRITE_ACP", principal)
        grants = self.bucket_grants if on == "bucket" else self.object_grants
        if on == "bucket" and self.bucket_acl == "public-read-write":
            grants = (*grants, ("AllUsers", "WRITE"))
        return any((who == "AllUsers" or who == principal.name) and perm in (permission, "FULL_CONTROL")
                   for who, perm in grants)

    def acl_headers(self, on: str) -> dict[str, str]:
        """The request headers that (re)set this kind's ACL."""
        grants = self.bucket_grants if on == "bucket" else self.object_grants
        if grants:
            return {f"x-amz-grant-{perm.lower().replace('_', '-')}": f'id="{CANONICAL_IDS[who]}"'
                    for who, perm in grants}
        return {"x-amz-acl": (self.bucket_acl if on == "bucket" else self.object_acl) or "private"}

    def public_allows(self, public: Public, signed: bool) -> bool:
        if public is Public.NO:
            return False
        if self.declared_public:
            return True
        acl = self.bucket_acl if public is Public.BUCKET else self.object_acl
        return acl in PUBLIC or (acl == "authenticated-read" and signed)


KINDS = [
    Kind("private", "mx-private"),
    Kind("bucket-public-read", "mx-acl-read", bucket_acl="public-read"),
    Kind("bucket-public-read-write", "mx-acl-rw", bucket_acl="public-read-write"),
    Kind("declared-publicRead", "mx-declared", declared_public=True),
    Kind("object-public-read", "mx-obj-public", object_acl="public-read"),
    Kind("authenticated-read", "mx-auth-read", bucket_acl="authenticated-read", object_acl="authenticated-read"),
    Kind("acl-granted", "mx-granted", bucket_grants=((GRANTEE, "FULL_CONTROL"),), object_grants=((GRANTEE, "READ"),)),
]
ELSEWHERE = Kind("elsewhere", "elsewhere-src")  # a private bucket only root and `other` reach
OBJ, SCRATCH = "obj", "scratch"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Row:
    """One operation (or a variant of it) and how to send it against a kind of bucket."""

    op: Op
    build: Callable[[Kind, str], Request]  # (kind, its upload id) → request
    variant: str = ""
    source: Kind | None = None  # the copy source's kind, when it is not the target's own object

    @property
    def id(self) -> str:
        return f"{self.op}{'-' + self.variant if self.variant else ''}"


def _xml(body: str, **headers: str) -> tuple[dict[str, str], bytes]:
    data = body.encode()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    return {"content-md5": md5, "content-type": "application/xml", **headers}, data


_TAGS = "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"
_CORS = ("<CORSConfiguration><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin>"
         "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>")
# A rule no object of the matrix matches: allowed callers store it, nothing expires.
_LIFECYCLE = ("<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>never/</Prefix></Filter>"
              "<Status>Enabled</Status><Expiration><Days>3650</Days></Expiration></Rule></LifecycleConfiguration>")
_LOCK = "<ObjectLockConfiguration><ObjectLockEnabled>Off</ObjectLockEnabled></ObjectLockConfiguration>"
_RETENTION = "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>"
_HOLD = "<LegalHold><Status>ON</Status></LegalHold>"
_SSE = ("<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
        "</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>")
_VERSIONING = "<VersioningConfiguration><Status>Off</Status></VersioningConfiguration>"
_DELETE = f"<Delete><Object><Key>{SCRATCH}</Key></Object></Delete>"


def _req(method: str, path: str, body: bytes = b"", **headers: str) -> Request:
    return Request(method, path, {k.replace("_", "-"): v for k, v in headers.items()}, body)


def _xml_req(method: str, path: str, body: str) -> Request:
    headers, data = _xml(body)
    return Request(method, path, headers, data)


def _copy(kind: Kind, source: Kind | None, **headers: str) -> Request:
    src = source or kind
    return _req("PUT", f"/{kind.bucket}/{SCRATCH}", x_amz_copy_source=f"/{src.bucket}/{OBJ}", **headers)


def _form(kind: Kind, **fields: str) -> Request:
    """A browser form upload of SCRATCH, unsigned: the request's own signature (if any) speaks for it."""
    parts = [f'--XyZ\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in
             {"key": SCRATCH, **fields}.items()]
    file = '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--XyZ--\r\n'
    headers = {"content-type": "multipart/form-data; boundary=XyZ"}
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]  # sent twice, so expected_allowed sees the widening ACL
    return Request("POST", f"/{kind.bucket}", headers, ("".join(parts) + file).encode())


def _part_copy(kind: Kind, upload: str, source: Kind | None) -> Request:
    src = source or kind
    return _req("PUT", f"/{kind.bucket}/{OBJ}?partNumber=2&uploadId={upload}", x_amz_copy_source=f"{src.bucket}/{OBJ}")


ROWS = [
    Row(Op.LIST_BUCKETS, lambda k, u: _req("GET", "/")),
    Row(Op.CREATE_BUCKET, lambda k, u: _req("PUT", f"/{k.bucket}")),
    Row(Op.CREATE_BUCKET, lambda k, u: _req("PUT", f"/{k.bucket}", x_amz_acl="public-read"), "acl-public-read"),
    Row(Op.HEAD_BUCKET, lambda k, u: _req("HEAD", f"/{k.bucket}")),
    Row(Op.DELETE_BUCKET, lambda k, u: _req("DELETE", f"/{k.bucket}")),
    Row(Op.GET_BUCKET_LOCATION, lambda k, u: _req("GET", f"/{k.bucket}?location")),
    Row(Op.GET_BUCKET_VERSIONING, lambda k, u: _req("GET", f"/{k.bucket}?versioning")),
    # An invalid status: allowed callers get 400 MalformedXML, so the matrix buckets stay unversioned.
    Row(Op.PUT_BUCKET_VERSIONING, lambda k, u: _xml_req("PUT", f"/{k.bucket}?versioning", _VERSIONING)),
    # The matrix buckets have no Object Lock: allowed callers get 404/400, refused ones 403.
    Row(Op.GET_OBJECT_LOCK_CONFIGURATION, lambda k, u: _req("GET", f"/{k.bucket}?object-lock")),
    Row(Op.PUT_OBJECT_LOCK_CONFIGURATION, lambda k, u: _xml_req("PUT", f"/{k.bucket}?object-lock", _LOCK)),
    Row(Op.GET_OBJECT_RETENTION, lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}?retention")),
    Row(Op.PUT_OBJECT_RETENTION, lambda k, u: _xml_req("PUT", f"/{k.bucket}/{OBJ}?retention", _RETENTION)),
    Row(Op.GET_OBJECT_LEGAL_HOLD, lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}?legal-hold")),
    Row(Op.PUT_OBJECT_LEGAL_HOLD, lambda k, u: _xml_req("PUT", f"/{k.bucket}/{OBJ}?legal-hold", _HOLD)),
    Row(Op.GET_BUCKET_TAGGING, lambda k, u: _req("GET", f"/{k.bucket}?tagging")),
    Row(Op.PUT_BUCKET_TAGGING, lambda k, u: _xml_req("PUT", f"/{k.bucket}?tagging", _TAGS)),
    Row(Op.DELETE_BUCKET_TAGGING, lambda k, u: _req("DELETE", f"/{k.bucket}?tagging")),
    Row(Op.LIST_OBJECTS, lambda k, u: _req("GET", f"/{k.bucket}")),
    Row(Op.LIST_OBJECTS_V2, lambda k, u: _req("GET", f"/{k.bucket}?list-type=2")),
    Row(Op.LIST_OBJECT_VERSIONS, lambda k, u: _req("GET", f"/{k.bucket}?versions")),
    Row(Op.LIST_MULTIPART_UPLOADS, lambda k, u: _req("GET", f"/{k.bucket}?uploads")),
    Row(Op.DELETE_OBJECTS, lambda k, u: _xml_req("POST", f"/{k.bucket}?delete", _DELETE)),
    Row(Op.GET_BUCKET_ACL, lambda k, u: _req("GET", f"/{k.bucket}?acl")),
    Row(Op.PUT_BUCKET_ACL, lambda k, u: Request("PUT", f"/{k.bucket}?acl", k.acl_headers("bucket"))),
    Row(Op.GET_BUCKET_CORS, lambda k, u: _req("GET", f"/{k.bucket}?cors")),
    Row(Op.PUT_BUCKET_CORS, lambda k, u: _xml_req("PUT", f"/{k.bucket}?cors", _CORS)),
    Row(Op.DELETE_BUCKET_CORS, lambda k, u: _req("DELETE", f"/{k.bucket}?cors")),
    Row(Op.GET_BUCKET_LIFECYCLE, lambda k, u: _req("GET", f"/{k.bucket}?lifecycle")),
    Row(Op.PUT_BUCKET_LIFECYCLE, lambda k, u: _xml_req("PUT", f"/{k.bucket}?lifecycle", _LIFECYCLE)),
    Row(Op.DELETE_BUCKET_LIFECYCLE, lambda k, u: _req("DELETE", f"/{k.bucket}?lifecycle")),
    Row(Op.GET_BUCKET_LOGGING, lambda k, u: _req("GET", f"/{k.bucket}?logging")),
    # An empty status: allowed callers switch logging off (it was never on).
    Row(Op.PUT_BUCKET_LOGGING, lambda k, u: _xml_req("PUT", f"/{k.bucket}?logging", "<BucketLoggingStatus/>")),
    Row(Op.GET_BUCKET_ENCRYPTION, lambda k, u: _req("GET", f"/{k.bucket}?encryption")),
    Row(Op.PUT_BUCKET_ENCRYPTION, lambda k, u: _xml_req("PUT", f"/{k.bucket}?encryption", _SSE)),
    Row(Op.DELETE_BUCKET_ENCRYPTION, lambda k, u: _req("DELETE", f"/{k.bucket}?encryption")),
    Row(Op.GET_BUCKET_OWNERSHIP_CONTROLS, lambda k, u: _req("GET", f"/{k.bucket}?ownershipControls")),
    # No rule: allowed callers get 400 MalformedXML, so the matrix buckets keep no ownership controls.
    Row(Op.PUT_BUCKET_OWNERSHIP_CONTROLS,
        lambda k, u: _xml_req("PUT", f"/{k.bucket}?ownershipControls", "<OwnershipControls/>")),
    Row(Op.DELETE_BUCKET_OWNERSHIP_CONTROLS, lambda k, u: _req("DELETE", f"/{k.bucket}?ownershipControls")),
    # Invalid documents: allowed callers get 400 MalformedPolicy / MalformedXML, the buckets stay as they are.
    Row(Op.GET_BUCKET_POLICY, lambda k, u: _req("GET", f"/{k.bucket}?policy")),
    Row(Op.PUT_BUCKET_POLICY, lambda k, u: _req("PUT", f"/{k.bucket}?policy", b'{"Statement": []}')),
    Row(Op.DELETE_BUCKET_POLICY, lambda k, u: _req("DELETE", f"/{k.bucket}?policy")),
    Row(Op.GET_BUCKET_POLICY_STATUS, lambda k, u: _req("GET", f"/{k.bucket}?policyStatus")),
    Row(Op.GET_PUBLIC_ACCESS_BLOCK, lambda k, u: _req("GET", f"/{k.bucket}?publicAccessBlock")),
    Row(Op.PUT_PUBLIC_ACCESS_BLOCK, lambda k, u: _xml_req("PUT", f"/{k.bucket}?publicAccessBlock", "<Nope/>")),
    Row(Op.DELETE_PUBLIC_ACCESS_BLOCK, lambda k, u: _req("DELETE", f"/{k.bucket}?publicAccessBlock")),
    Row(Op.GET_OBJECT, lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}")),
    Row(Op.HEAD_OBJECT, lambda k, u: _req("HEAD", f"/{k.bucket}/{OBJ}")),
    Row(Op.GET_OBJECT_ATTRIBUTES,
        lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}?attributes", x_amz_object_attributes="ETag,ObjectSize")),
    Row(Op.PUT_OBJECT, lambda k, u: _req("PUT", f"/{k.bucket}/{SCRATCH}", b"x")),
    Row(Op.PUT_OBJECT, lambda k, u: _req("PUT", f"/{k.bucket}/{SCRATCH}", b"x", x_amz_acl="private"), "acl-private"),
    Row(Op.PUT_OBJECT, lambda k, u: _req("PUT", f"/{k.bucket}/{SCRATCH}", b"x", x_amz_acl="public-read"),
        "acl-public-read"),
    Row(Op.PUT_OBJECT, lambda k, u: _req("PUT", f"/{k.bucket}/{SCRATCH}", b"x", x_amz_acl="authenticated-read"),
        "acl-authenticated-read"),
    Row(Op.POST_OBJECT, lambda k, u: _form(k)),
    Row(Op.POST_OBJECT, lambda k, u: _form(k, acl="public-read"), "acl-public-read"),
    Row(Op.COPY_OBJECT, lambda k, u: _copy(k, None)),
    Row(Op.COPY_OBJECT, lambda k, u: _copy(k, None, x_amz_tagging_directive="REPLACE"), "replace-tags"),
    Row(Op.COPY_OBJECT, lambda k, u: _copy(k, ELSEWHERE), "from-elsewhere", ELSEWHERE),
    Row(Op.COPY_OBJECT, lambda k, u: _copy(k, None, x_amz_acl="public-read-write"), "acl-public-read-write"),
    Row(Op.DELETE_OBJECT, lambda k, u: _req("DELETE", f"/{k.bucket}/{SCRATCH}")),
    Row(Op.GET_OBJECT_TAGGING, lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}?tagging")),
    Row(Op.PUT_OBJECT_TAGGING, lambda k, u: _xml_req("PUT", f"/{k.bucket}/{OBJ}?tagging", _TAGS)),
    Row(Op.DELETE_OBJECT_TAGGING, lambda k, u: _req("DELETE", f"/{k.bucket}/{OBJ}?tagging")),
    Row(Op.GET_OBJECT_ACL, lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}?acl")),
    Row(Op.PUT_OBJECT_ACL, lambda k, u: Request("PUT", f"/{k.bucket}/{OBJ}?acl", k.acl_headers("object"))),
    Row(Op.CREATE_MULTIPART_UPLOAD, lambda k, u: _req("POST", f"/{k.bucket}/{SCRATCH}?uploads")),
    Row(Op.CREATE_MULTIPART_UPLOAD, lambda k, u: _req("POST", f"/{k.bucket}/{SCRATCH}?uploads",
                                                      x_amz_acl="public-read"), "acl-public-read"),
    Row(Op.UPLOAD_PART, lambda k, u: _req("PUT", f"/{k.bucket}/{OBJ}?partNumber=1&uploadId={u}", b"part")),
    Row(Op.UPLOAD_PART_COPY, lambda k, u: _part_copy(k, u, None)),
    Row(Op.UPLOAD_PART_COPY, lambda k, u: _part_copy(k, u, ELSEWHERE), "from-elsewhere", ELSEWHERE),
    Row(Op.COMPLETE_MULTIPART_UPLOAD, lambda k, u: _xml_req("POST", f"/{k.bucket}/{OBJ}?uploadId={u}",
                                                            "<CompleteMultipartUpload/>")),
    Row(Op.ABORT_MULTIPART_UPLOAD, lambda k, u: _req("DELETE", f"/{k.bucket}/{OBJ}?uploadId=not-an-upload")),
    Row(Op.LIST_PARTS, lambda k, u: _req("GET", f"/{k.bucket}/{OBJ}?uploadId={u}")),
]


def expected_allowed(row: Row, principal: Principal, kind: Kind, request: Request) -> bool:
    """What the table says, evaluated here: every (action, bucket, public rule) the row touches."""
    access = ACCESS[row.op]
    signed = principal.key is not None
    own_acl = next(((on, perm) for on, table in (("bucket", ACL_BUCKET), ("object", ACL_OBJECT))
                    for perm, ops in table.items() if row.op in ops), None)
    touched = [(access.action.value, kind, access.public, own_acl)]
    if Extra.COPY_SOURCE in access.extra:
        touched.append(("read", row.source or kind, Public.OBJECT, ("object", "READ")))
    if Extra.COPY_SOURCE_TAGS in access.extra and request.headers.get("x-amz-tagging-directive") != "REPLACE":
        touched.append(("read", row.source or kind, Public.NO, None))  # tags: never by an ACL
    if Extra.WIDENING_ACL in access.extra and request.headers.get("x-amz-acl") not in NARROW:
        # Opening what is created: admin, or WRITE_ACP on the bucket, or a bucket anyone may write
        # (CreateBucket: admin only).
        touched.append(("admin", kind, Public.NO, None if row.op is Op.CREATE_BUCKET else ("bucket", "OPEN")))
    return all(
        principal.granted(action, None if row.op is Op.LIST_BUCKETS else where.bucket)
        or where.public_allows(public, signed)
        or (acl is not None and where.acl_allows(acl[0], acl[1], principal))
        for action, where, public, acl in touched
    )


@dataclass
class Fixture:
    url: str
    uploads: dict[str, str]
    http: httpx.Client


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    base = tmp_path_factory.mktemp("authz")
    declared = {
        "buckets": [{"name": "mx-declared", "publicRead": True}, {"name": ELSEWHERE.bucket}],
        "credentials": [
            {"name": p.name, "accessKeyId": p.key[0], "secretAccessKey": p.key[1],
             "grants": [{"bucket": pattern, "access": level} for pattern, level in p.grants]}
            for p in PRINCIPALS if p.key and not p.root
        ],
    }
    (base / "declared.yaml").write_text(yaml.safe_dump(declared))
    proc, url = start_subprocess_server(base / "data", "--declared", str(base / "declared.yaml"),
                                        "--fsync", "never")
    try:
        root = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            region_name="us-east-1", config=BotoConfig(retries={"total_max_attempts": 1}))
        for p in PRINCIPALS:
            if p.key is not None:
                signed_in = boto3.client("s3", endpoint_url=url, aws_access_key_id=p.key[0],
                                         aws_secret_access_key=p.key[1], region_name="us-east-1")
                CANONICAL_IDS[p.name] = signed_in.list_buckets()["Owner"]["ID"]
        uploads = {}
        http = httpx.Client(timeout=30)
        for kind in [*KINDS, ELSEWHERE]:
            if kind.bucket not in ("mx-declared", ELSEWHERE.bucket):
                root.create_bucket(Bucket=kind.bucket)
                assert send_as(http, url, PRINCIPALS[0],
                               Request("PUT", f"/{kind.bucket}?acl", kind.acl_headers("bucket"))).status_code == 200
            assert send_as(http, url, PRINCIPALS[0], Request("PUT", f"/{kind.bucket}/{OBJ}",
                                                             kind.acl_headers("object"), b"data")).status_code == 200
            uploads[kind.bucket] = root.create_multipart_upload(Bucket=kind.bucket, Key=OBJ)["UploadId"]
        try:
            yield Fixture(url, uploads, http)
        finally:
            http.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def send(fx: Fixture, principal: Principal, request: Request) -> httpx.Response:
    return send_as(fx.http, fx.url, principal, request)


def send_as(http: httpx.Client, base: str, principal: Principal, request: Request) -> httpx.Response:
    url = base + request.path
    headers = dict(request.headers)
    if principal.key is not None:
        aws = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
        aws.context["payload_signing_enabled"] = True
        S3SigV4Auth(Credentials(*principal.key), "s3", "us-east-1").add_auth(aws)
        prepared = aws.prepare()
        url, headers = prepared.url, dict(prepared.headers)
    return http.request(request.method, url, content=request.body, headers=headers)


def refused(response: httpx.Response, method: str) -> bool:
    if response.status_code != 403:
        return False
    return method == "HEAD" or b"<Code>AccessDenied</Code>" in response.content


def test_every_implemented_operation_has_rows() -> None:
    assert {row.op for row in ROWS} == set(HANDLERS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_row(matrix: Fixture, row: Row) -> None:
    wrong: list[str] = []
    for kind in KINDS:
        for principal in PRINCIPALS:
            request = row.build(kind, matrix.uploads[kind.bucket])
            response = send(matrix, principal, request)
            assert response.status_code < 500, (kind.name, principal.name, response.text)
            allowed = expected_allowed(row, principal, kind, request)
            if refused(response, request.method) == allowed:
                wanted = "allowed" if allowed else "AccessDenied"
                wrong.append(f"{principal.name} on {kind.name}: wanted {wanted}, got {response.status_code} "
                             f"{response.text[:120]!r}")
    assert not wrong, "\n".join(wrong)

