"""Request classification: every (method, resource, sub-resource, guard header) → one Op."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from smarts3.s3 import operations
from smarts3.s3.addressing import endpoint_names, resolve
from smarts3.s3.operations import Op, Unclassified, classify

BASE = "s3.smarts3.test"
COPY = {"x-amz-copy-source": "/src/key"}

# ("METHOD /bucket/key?query", headers, expected operation), written path-style.
TABLE: list[tuple[str, dict[str, str], Op]] = [
    ("GET /", {}, Op.LIST_BUCKETS),
    ("HEAD /", {}, Op.LIST_BUCKETS),
    ("GET /?prefix=a&max-buckets=2", {}, Op.LIST_BUCKETS),
    ("POST /", {"x-amz-request-route": "r"}, Op.WRITE_GET_OBJECT_RESPONSE),
    ("PUT /b", {}, Op.CREATE_BUCKET),
    ("HEAD /b", {}, Op.HEAD_BUCKET),
    ("DELETE /b", {}, Op.DELETE_BUCKET),
    ("GET /b?location", {}, Op.GET_BUCKET_LOCATION),
    ("GET /b?versioning", {}, Op.GET_BUCKET_VERSIONING),
    ("PUT /b?versioning", {}, Op.PUT_BUCKET_VERSIONING),
    ("GET /b?tagging", {}, Op.GET_BUCKET_TAGGING),
    ("PUT /b?tagging", {}, Op.PUT_BUCKET_TAGGING),
    ("DELETE /b?tagging", {}, Op.DELETE_BUCKET_TAGGING),
    ("GET /b", {}, Op.LIST_OBJECTS),
    ("GET /b?prefix=a&delimiter=/&marker=m&max-keys=5&encoding-type=url", {}, Op.LIST_OBJECTS),
    ("GET /b?list-type=2", {}, Op.LIST_OBJECTS_V2),
    ("GET /b?list-type=2&continuation-token=x&fetch-owner=true&start-after=a", {},
     Op.LIST_OBJECTS_V2),
    ("GET /b?list-type=1", {}, Op.LIST_OBJECTS),
    ("GET /b?versions", {}, Op.LIST_OBJECT_VERSIONS),
    ("GET /b?versions&prefix=a&key-marker=k", {}, Op.LIST_OBJECT_VERSIONS),
    ("GET /b?uploads", {}, Op.LIST_MULTIPART_UPLOADS),
    ("GET /b?uploads&prefix=a&max-uploads=1", {}, Op.LIST_MULTIPART_UPLOADS),
    ("POST /b?delete", {}, Op.DELETE_OBJECTS),
    ("POST /b", {}, Op.POST_OBJECT),
    ("OPTIONS /b", {}, Op.CORS_PREFLIGHT),
    ("OPTIONS /b/k", {}, Op.CORS_PREFLIGHT),
    ("GET /b/k", {}, Op.GET_OBJECT),
    ("GET /b/k?partNumber=1", {}, Op.GET_OBJECT),
    ("GET /b/k?response-content-type=text/plain&versionId=null", {}, Op.GET_OBJECT),
    ("HEAD /b/k", {}, Op.HEAD_OBJECT),
    ("HEAD /b/k?partNumber=2", {}, Op.HEAD_OBJECT),
    ("PUT /b/k", {}, Op.PUT_OBJECT),
    ("PUT /b/k", COPY, Op.COPY_OBJECT),
    ("DELETE /b/k", {}, Op.DELETE_OBJECT),
    ("DELETE /b/k?versionId=null", {}, Op.DELETE_OBJECT),
    ("GET /b/k?tagging", {}, Op.GET_OBJECT_TAGGING),
    ("PUT /b/k?tagging", {}, Op.PUT_OBJECT_TAGGING),
    ("DELETE /b/k?tagging", {}, Op.DELETE_OBJECT_TAGGING),
    ("POST /b/k?uploads", {}, Op.CREATE_MULTIPART_UPLOAD),
    ("PUT /b/k?partNumber=1&uploadId=u", {}, Op.UPLOAD_PART),
    ("PUT /b/k?partNumber=1&uploadId=u", COPY, Op.UPLOAD_PART_COPY),
    ("POST /b/k?uploadId=u", {}, Op.COMPLETE_MULTIPART_UPLOAD),
    ("DELETE /b/k?uploadId=u", {}, Op.ABORT_MULTIPART_UPLOAD),
    ("GET /b/k?uploadId=u", {}, Op.LIST_PARTS),
    ("GET /b/k?uploadId=u&max-parts=2&part-number-marker=1", {}, Op.LIST_PARTS),
    ("GET /b/k?acl", {}, Op.GET_OBJECT_ACL),
    ("PUT /b/k?acl", {}, Op.PUT_OBJECT_ACL),
    ("GET /b/k?attributes", {}, Op.GET_OBJECT_ATTRIBUTES),
    ("POST /b/k?restore", {}, Op.RESTORE_OBJECT),
    ("POST /b/k?select&select-type=2", {}, Op.SELECT_OBJECT_CONTENT),
    ("GET /b?website", {}, Op.GET_BUCKET_WEBSITE),
    ("GET /b?policy", {}, Op.GET_BUCKET_POLICY),
    ("PUT /b?lifecycle", {}, Op.PUT_BUCKET_LIFECYCLE),
    ("GET /b?acl", {}, Op.GET_BUCKET_ACL),
    ("GET /b?cors", {}, Op.GET_BUCKET_CORS),
    ("PUT /b?encryption", {}, Op.PUT_BUCKET_ENCRYPTION),
    ("GET /b?replication", {}, Op.GET_BUCKET_REPLICATION),
    ("PUT /b?object-lock", {}, Op.PUT_OBJECT_LOCK_CONFIGURATION),
    # A sub-resource wins over listing parameters: never a listing.
    ("GET /b?versioning&list-type=2", {}, Op.GET_BUCKET_VERSIONING),
    ("GET /b?list-type=2&policy", {}, Op.GET_BUCKET_POLICY),
    # A sub-resource on PUT is never an upload, even with a copy source or part number.
    ("PUT /b/k?tagging&partNumber=1&uploadId=u", COPY, Op.PUT_OBJECT_TAGGING),
    ("PUT /b/k?acl", COPY, Op.PUT_OBJECT_ACL),
    ("PUT /b?policy", {}, Op.PUT_BUCKET_POLICY),
]

UNKNOWN_PARAMS = "x-id=GetObject&foo=bar&nonsense"

NOT_ALLOWED = ["PATCH /b/k", "PATCH /b", "POST /b/k", "TRACE /b/k", "PUT /", "DELETE /",
               "POST /", "CONNECT /b"]


def _classify(line: str, headers: dict[str, str], host: str = "localhost:9000") -> Op:
    method, _, target = line.partition(" ")
    path, _, query = target.partition("?")
    where = resolve(path.encode(), host, endpoint_names(BASE))
    params = dict(parse_qsl(query, keep_blank_values=True))
    return classify(method, where.bucket, where.key, params, headers)


def _vhost(line: str) -> tuple[str, str]:
    """The same request virtual-host style: (line, Host header)."""
    method, _, target = line.partition(" ")
    path, sep, query = target.partition("?")
    rest = path[len("/b"):] or "/"
    return f"{method} {rest}{sep}{query}", f"bkt.{BASE}:9000"  # labels must be bucket names


@pytest.mark.parametrize(("line", "headers", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_path_style(line: str, headers: dict[str, str], expected: Op) -> None:
    assert _classify(line, headers) == expected


@pytest.mark.parametrize(("line", "headers", "expected"),
                         [t for t in TABLE if t[0].split(" ")[1].startswith("/b")],
                         ids=[t[0] for t in TABLE if t[0].split(" ")[1].startswith("/b")])
def test_virtual_host_style(line: str, headers: dict[str, str], expected: Op) -> None:
    vline, host = _vhost(line)
    assert _classify(vline, headers, host) == expected


@pytest.mark.parametrize(("line", "headers", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_unknown_query_parameters_change_nothing(line: str, headers: dict[str, str],
                                                 expected: Op) -> None:
    joined = line + ("&" if "?" in line else "?") + UNKNOWN_PARAMS
    assert _classify(joined, headers) == expected


@pytest.mark.parametrize("line", NOT_ALLOWED)
def test_method_not_allowed(line: str) -> None:
    with pytest.raises(Unclassified):
        _classify(line, {})


def test_plain_dns_host_is_not_a_bucket() -> None:
    for host in ("localhost:9000", "smarts3.default.svc.cluster.local:9000", "127.0.0.1:9000",
                 BASE, f"{BASE}:9000"):
        assert _classify("GET /", {}, host) == Op.LIST_BUCKETS
        assert _classify("GET /b?versioning", {}, host) == Op.GET_BUCKET_VERSIONING


# Every row of the sub-resource tables, checked against the module itself so that a new
# row cannot go untested; each also beats listing and upload parameters.
_ROWS = [
    ("GET", False, operations._BUCKET_GET),
    ("PUT", False, operations._BUCKET_PUT),
    ("DELETE", False, operations._BUCKET_DELETE),
    ("POST", False, operations._BUCKET_POST),
    ("GET", True, operations._OBJECT_GET),
    ("PUT", True, operations._OBJECT_PUT),
    ("DELETE", True, operations._OBJECT_DELETE),
    ("POST", True, operations._OBJECT_POST),
]
EVERY_ROW = [(method, obj, name, op) for method, obj, table in _ROWS for name, op in table]


@pytest.mark.parametrize(("method", "on_object", "name", "op"), EVERY_ROW,
                         ids=[f"{m}-{'obj' if o else 'bkt'}-{n}" for m, o, n, _ in EVERY_ROW])
def test_every_table_row(method: str, on_object: bool, name: str, op: Op) -> None:
    key = "k" if on_object else None
    assert classify(method, "b", key, {name: ""}, {}) == op
    noisy = {"list-type": "2", "prefix": "p", "delimiter": "/", "foo": "bar", name: ""}
    if method == "PUT" and on_object:
        noisy["partNumber"] = "1"
    assert classify(method, "b", key, noisy, COPY if on_object else {}) == op
