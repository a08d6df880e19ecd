"""ListObjects (v1), ListObjectsV2 and ListObjectVersions over HTTP with boto3 and raw signed XML.

The 2,500- and 10,000-key buckets are filled through a second FilesystemStore on the
server's data directory (exactly what a second worker process is), because 10,000 HTTP
PUTs take about a minute on two cores; every listing is still read over HTTP.
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

import anyio
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from smarts3.storage.base import ObjectMeta
from smarts3.storage.fs import FilesystemStore

pytestmark = pytest.mark.both_metadata

# ---------------------------------------------------------------- helpers


def seed(server: Any, bucket: str, keys: Iterable[str], body: bytes = b"x") -> None:
    """Write many objects through the storage layer, eight at a time."""

    async def main() -> None:
        store = FilesystemStore(server.data_dir, fsync=False, metadata=server.metadata, replica="seed")
        limiter = anyio.CapacityLimiter(8)

        async def one(key: str) -> None:
            async with limiter, store.object_writer(bucket, key) as writer:
                await writer.write(body)
                await writer.commit(ObjectMeta(), None)

        try:
            async with anyio.create_task_group() as tg:
                for key in keys:
                    tg.start_soon(one, key)
        finally:
            await store.close()

    anyio.run(main)


def signed(server: Any, method: str, path: str, query: dict[str, str] | None = None,
           body: bytes = b"") -> httpx.Response:
    """A SigV4-signed request sent with httpx, to see the raw response boto3 would decode."""
    qs = urlencode(query or {}, quote_via=quote)
    url = server.url + path + (f"?{qs}" if qs else "")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", "us-east-1").add_auth(request)
    return httpx.request(method, url, content=body, headers=dict(request.headers.items()), timeout=30)


def xml_root(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


def keys_of(page: dict[str, Any]) -> list[str]:
    return [c["Key"] for c in page.get("Contents", [])]


def prefixes_of(page: dict[str, Any]) -> list[str]:
    return [p["Prefix"] for p in page.get("CommonPrefixes", [])]


def utf8_sorted(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


BIG_KEYS = [f"big/{i:05d}" for i in range(2500)]


@pytest.fixture(scope="module")
def big_bucket(server: Any) -> str:
    """2,500 keys, shared by the read-only pagination tests of this module."""
    name = f"t-big-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=name)
    seed(server, name, BIG_KEYS)
    return name


# ---------------------------------------------------------------- shapes and parameters


def test_v2_basic_shape_and_fetch_owner(s3: Any, bucket: str) -> None:
    for key in ("b", "a", "c/d"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
    page = s3.list_objects_v2(Bucket=bucket)
    assert keys_of(page) == ["a", "b", "c/d"]
    assert page["KeyCount"] == 3
    assert page["MaxKeys"] == 1000
    assert page["IsTruncated"] is False
    assert page["Name"] == bucket
    assert "NextContinuationToken" not in page
    first = page["Contents"][0]
    assert first["Size"] == 5
    assert first["ETag"] == '"' + hashlib.md5(b"hello").hexdigest() + '"'
    assert first["StorageClass"] == "STANDARD"
    assert "Owner" not in first

    owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert all(c["Owner"]["ID"] for c in owned["Contents"])
    not_owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=False)
    assert all("Owner" not in c for c in not_owned["Contents"])


def test_v1_always_has_owner(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    page = s3.list_objects(Bucket=bucket)
    assert keys_of(page) == ["k"]
    assert page["Contents"][0]["Owner"]["ID"]
    assert page["Contents"][0]["Size"] == 0
    assert page["IsTruncated"] is False
    assert page["Marker"] == ""
    assert "NextMarker" not in page


def test_prefix(s3: Any, bucket: str) -> None:
    keys = ["photos/2024/a.jpg", "photos/2025/b.jpg", "photosynthesis", "video/c.mp4", "Photos/x"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    assert keys_of(s3.list_objects_v2(Bucket=bucket, Prefix="photos")) == [
        "photos/2024/a.jpg", "photos/2025/b.jpg", "photosynthesis"]
    assert keys_of(s3.list_objects_v2(Bucket=bucket, Prefix="photos/")) == [
        "photos/2024/a.jpg", "photos/2025/b.jpg"]
    assert keys_of(s3.list_objects(Bucket=bucket, Prefix="P")) == ["Photos/x"]
    assert keys_of(s3.list_objects_v2(Bucket=bucket, Prefix="nothing")) == []
    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing")["KeyCount"] == 0


def test_delimiter_slash_with_a_beside_a_slash_b_and_dir_marker(s3: Any, bucket: str) -> None:
    keys = ["a", "a/b", "a/c/d", "b-c", "dir/", "dir/x", "dir/y/z", "e"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    for lister in (s3.list_objects, s3.list_objects_v2):
        page = lister(Bucket=bucket, Delimiter="/")
        assert keys_of(page) == ["a", "b-c", "e"]
        assert prefixes_of(page) == ["a/", "dir/"]
        assert page["Delimiter"] == "/"
        inner = lister(Bucket=bucket, Delimiter="/", Prefix="dir/")
        assert keys_of(inner) == ["dir/", "dir/x"]
        assert prefixes_of(inner) == ["dir/y/"]
    assert s3.list_objects_v2(Bucket=bucket, Delimiter="/")["KeyCount"] == 5
    # Without a delimiter, every key, `a` before `a/b`.
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == keys


@pytest.mark.parametrize(
    ("delimiter", "prefix", "contents", "common"),
    [
        ("--", "", ["a/x/1", "a/y/1", "b/x/q", "plain", "z"], ["a--", "b--"]),
        ("--", "a--", ["a--1"], ["a--x--"]),
        ("/x/", "", ["a--1", "a--x--2", "a--x--3", "a/y/1", "b--x", "plain", "z"],
         ["a/x/", "b/x/"]),
        ("/x/", "a", ["a--1", "a--x--2", "a--x--3", "a/y/1"], ["a/x/"]),
        # The delimiter is looked for after the prefix: "a/" + "x/1" holds no "/x/".
        ("/x/", "a/", ["a/x/1", "a/y/1"], []),
        ("x", "", ["a--1", "a/y/1", "plain", "z"], ["a--x", "a/x", "b--x", "b/x"]),
    ],
)
def test_multi_character_delimiters(s3: Any, bucket: str, delimiter: str, prefix: str,
                                    contents: list[str], common: list[str]) -> None:
    keys = ["a--1", "a--x--2", "a--x--3", "a/x/1", "a/y/1", "b--x", "b/x/q", "plain", "z"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    for lister in (s3.list_objects, s3.list_objects_v2):
        page = lister(Bucket=bucket, Delimiter=delimiter, Prefix=prefix)
        assert keys_of(page) == contents
        assert prefixes_of(page) == common
        assert page["Delimiter"] == delimiter


def test_max_keys_zero_one_and_clamp(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    zero = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert zero["KeyCount"] == 0
    assert keys_of(zero) == []
    assert zero["MaxKeys"] == 0
    assert keys_of(s3.list_objects(Bucket=bucket, MaxKeys=0)) == []

    one = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    assert keys_of(one) == ["a"]
    assert one["KeyCount"] == 1
    assert one["IsTruncated"] is True
    assert one["NextContinuationToken"]

    v1 = s3.list_objects(Bucket=bucket, MaxKeys=1)
    assert keys_of(v1) == ["a"]
    assert v1["IsTruncated"] is True
    assert "NextMarker" not in v1  # only returned with a delimiter

    exact = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert keys_of(exact) == ["a", "b", "c"]
    assert exact["IsTruncated"] is False


def test_max_keys_1000_and_above_clamps(s3: Any, big_bucket: str) -> None:
    for max_keys in (1000, 1001, 5000, 2**31 - 1):
        page = s3.list_objects_v2(Bucket=big_bucket, MaxKeys=max_keys)
        assert keys_of(page) == BIG_KEYS[:1000]
        assert page["KeyCount"] == 1000
        assert page["IsTruncated"] is True
    v1 = s3.list_objects(Bucket=big_bucket, MaxKeys=5000)
    assert keys_of(v1) == BIG_KEYS[:1000]
    assert v1["IsTruncated"] is True


def test_v2_paginator_walks_2500_keys(s3: Any, big_bucket: str) -> None:
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=big_bucket))
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert [k for p in pages for k in keys_of(p)] == BIG_KEYS
    assert [p["IsTruncated"] for p in pages] == [True, True, False]

    small = s3.get_paginator("list_objects_v2").paginate(
        Bucket=big_bucket, PaginationConfig={"PageSize": 333})
    assert [k for p in small for k in keys_of(p)] == BIG_KEYS


def test_v1_paginator_walks_2500_keys(s3: Any, big_bucket: str) -> None:
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=big_bucket))
    assert [len(keys_of(p)) for p in pages] == [1000, 1000, 500]
    assert [k for p in pages for k in keys_of(p)] == BIG_KEYS


def test_v2_by_hand_with_continuation_tokens(s3: Any, big_bucket: str) -> None:
    seen: list[str] = []
    tokens: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": big_bucket, "MaxKeys": 700, "Prefix": "big/"}
    while True:
        page = s3.list_objects_v2(**kwargs)
        seen.extend(keys_of(page))
        if "ContinuationToken" in kwargs:
            assert page["ContinuationToken"] == kwargs["ContinuationToken"]
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        tokens.append(page["NextContinuationToken"])
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert seen == BIG_KEYS
    assert len(tokens) == 3
    assert len(set(tokens)) == 3
    # A token is opaque: it does not spell out the key it resumes after.
    assert all(BIG_KEYS[699] not in t for t in tokens[:1])


def test_v1_by_hand_with_markers(s3: Any, big_bucket: str) -> None:
    seen: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=big_bucket, MaxKeys=900, Marker=marker)
        assert page["Marker"] == marker
        seen.extend(keys_of(page))
        if not page["IsTruncated"]:
            break
        marker = keys_of(page)[-1]
    assert seen == BIG_KEYS


def test_start_after_and_marker(s3: Any, big_bucket: str) -> None:
    page = s3.list_objects_v2(Bucket=big_bucket, StartAfter="big/02494")
    assert keys_of(page) == BIG_KEYS[2495:]
    assert page["StartAfter"] == "big/02494"
    # start-after need not be a key; it is a position in byte order.
    assert keys_of(s3.list_objects_v2(Bucket=big_bucket, StartAfter="big/02494x")) == BIG_KEYS[2495:]
    assert keys_of(s3.list_objects(Bucket=big_bucket, Marker="big/02497")) == BIG_KEYS[2498:]
    assert keys_of(s3.list_objects_v2(Bucket=big_bucket, StartAfter="zzz")) == []
    # A continuation token resumes where the page ended; start-after never rewinds it.
    first = s3.list_objects_v2(Bucket=big_bucket, StartAfter="big/00010", MaxKeys=5)
    assert keys_of(first) == BIG_KEYS[11:16]
    nxt = s3.list_objects_v2(Bucket=big_bucket, StartAfter="big/00010", MaxKeys=5,
                             ContinuationToken=first["NextContinuationToken"])
    assert keys_of(nxt) == BIG_KEYS[16:21]


@pytest.mark.parametrize("mutate", ["garbage", "truncate", "flip", "append"])
def test_tampered_continuation_token_is_invalid_argument(s3: Any, big_bucket: str,
                                                        mutate: str) -> None:
    token = s3.list_objects_v2(Bucket=big_bucket, MaxKeys=10)["NextContinuationToken"]
    middle = len(token) // 2
    bad = {
        "garbage": "this is not a token!",
        "truncate": token[: middle],
        "flip": token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:],
        "append": token + "AAAA",
    }[mutate]
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=big_bucket, MaxKeys=10, ContinuationToken=bad)
    assert error_code(exc) == (400, "InvalidArgument")


# ---------------------------------------------------------------- ordering and encoding

ORDER_KEYS = [
    "\x01ctl", "A", "B", "Z", "a", "a-b", "a/b", "a0", "b", "z", "~",
    "é", "\u00ff", "\u0100", "\u4e2d", "\uff5e", "\ufffd", "\U0001f600", "\U0001f600/x",
]


def test_strict_utf8_byte_order(s3: Any, bucket: str) -> None:
    for key in reversed(ORDER_KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    expected = utf8_sorted(ORDER_KEYS)
    # UTF-8 order puts the emoji (4 bytes, F0..) after U+FFFD (EF BF BD), unlike UTF-16.
    assert expected.index("\U0001f600") > expected.index("\ufffd")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == expected
    assert keys_of(s3.list_objects(Bucket=bucket)) == expected
    by_one = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1})
    assert [k for p in by_one for k in keys_of(p)] == expected
    by_marker: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=bucket, MaxKeys=2, Marker=marker)
        by_marker.extend(keys_of(page))
        if not page["IsTruncated"]:
            break
        marker = keys_of(page)[-1]
    assert by_marker == expected
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="\u00ff")
    assert keys_of(after) == expected[expected.index("\u00ff") + 1:]


def test_encoding_type_url_raw_xml(server: Any, s3: Any, bucket: str) -> None:
    keys = ["sp ace/1", "ctl\x01/2", "é/3", "plus+&amp/4", "q?x=1#frag"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    raw = signed(server, "GET", f"/{bucket}", {"list-type": "2", "encoding-type": "url",
                                                 "prefix": "", "start-after": "\x01"})
    assert raw.status_code == 200, raw.text
    root = xml_root(raw.content)
    assert root.findtext("EncodingType") == "url"
    listed = [e.text or "" for e in root.findall("Contents/Key")]
    for value in listed:
        assert all(c.isalnum() or c in "%/-_.~+" for c in value), value
    assert [unquote_plus(k) for k in listed] == utf8_sorted(keys)
    assert root.findtext("StartAfter") == "%01"

    with_delim = signed(server, "GET", f"/{bucket}", {"encoding-type": "url", "delimiter": "/",
                                                        "prefix": "é"})
    root = xml_root(with_delim.content)
    assert root.findtext("EncodingType") == "url"
    assert unquote_plus(root.findtext("Prefix") or "") == "é"
    assert (root.findtext("Prefix") or "").startswith("%")
    assert [unquote_plus(p.text or "") for p in root.findall("CommonPrefixes/Prefix")] == ["é/"]

    plain = signed(server, "GET", f"/{bucket}", {"list-type": "2", "prefix": "sp"})
    root = xml_root(plain.content)
    assert root.find("EncodingType") is None
    assert [e.text for e in root.findall("Contents/Key")] == ["sp ace/1"]

    # boto3 asks for encoding-type=url itself and decodes: a control character round-trips.
    assert keys_of(s3.list_objects_v2(Bucket=bucket, Prefix="ctl")) == ["ctl\x01/2"]
    assert keys_of(s3.list_objects(Bucket=bucket, Prefix="ctl")) == ["ctl\x01/2"]


def test_bad_encoding_type(server: Any, bucket: str) -> None:
    raw = signed(server, "GET", f"/{bucket}", {"list-type": "2", "encoding-type": "base64"})
    assert raw.status_code == 400
    assert xml_root(raw.content).findtext("Code") == "InvalidArgument"


def test_v1_next_marker_only_with_delimiter(s3: Any, bucket: str) -> None:
    keys = ["a/1", "a/2", "a/3", "b", "c/1", "c/2", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    plain = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert plain["IsTruncated"] is True
    assert "NextMarker" not in plain

    # With a delimiter, NextMarker names the last key or common prefix of the page,
    # and resuming from a common prefix never repeats it.
    seen_keys: list[str] = []
    seen_prefixes: list[str] = []
    marker = ""
    pages = 0
    while True:
        page = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=1, Marker=marker)
        pages += 1
        assert pages < 20
        seen_keys.extend(keys_of(page))
        seen_prefixes.extend(prefixes_of(page))
        assert len(keys_of(page)) + len(prefixes_of(page)) <= 1
        if not page["IsTruncated"]:
            assert "NextMarker" not in page
            break
        assert page["NextMarker"] == (keys_of(page) + prefixes_of(page))[-1]
        marker = page["NextMarker"]
    assert seen_keys == ["b", "d"]
    assert seen_prefixes == ["a/", "c/"]

    v2_pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert [k for p in v2_pages for k in keys_of(p)] == ["b", "d"]
    assert [c for p in v2_pages for c in prefixes_of(p)] == ["a/", "c/"]
    assert all(p["KeyCount"] == 1 for p in v2_pages)


def test_list_missing_bucket(s3: Any) -> None:
    for lister in (s3.list_objects, s3.list_objects_v2):
        with pytest.raises(ClientError) as exc:
            lister(Bucket=f"t-missing-{uuid.uuid4().hex[:8]}")
        assert error_code(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=f"t-missing-{uuid.uuid4().hex[:8]}", MaxKeys=0)
    assert error_code(exc) == (404, "NoSuchBucket")


# ---------------------------------------------------------------- versions and versioning


def test_list_object_versions_without_versioning(s3: Any, bucket: str) -> None:
    for key in ("a", "b/1", "b/2", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.put_object(Bucket=bucket, Key="a", Body=b"overwritten")
    page = s3.list_object_versions(Bucket=bucket)
    versions = page["Versions"]
    assert [v["Key"] for v in versions] == ["a", "b/1", "b/2", "c"]
    assert all(v["VersionId"] == "null" and v["IsLatest"] is True for v in versions)
    assert versions[0]["ETag"] == '"' + hashlib.md5(b"overwritten").hexdigest() + '"'
    assert versions[0]["Size"] == len(b"overwritten")
    assert "DeleteMarkers" not in page
    assert page["IsTruncated"] is False

    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in grouped["Versions"]] == ["a", "c"]
    assert prefixes_of(grouped) == ["b/"]
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket, Prefix="b/")["Versions"]] == [
        "b/1", "b/2"]

    first = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert first["IsTruncated"] is True
    assert first["NextKeyMarker"] == "b/1"
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker=first["NextKeyMarker"])
    assert [v["Key"] for v in rest["Versions"]] == ["b/2", "c"]

    walked = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1})
    assert [v["Key"] for p in walked for v in p.get("Versions", [])] == ["a", "b/1", "b/2", "c"]


def test_get_bucket_versioning_is_empty(s3: Any, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in answer
    assert "MFADelete" not in answer


# ---------------------------------------------------------------- a wide bucket


def _wide_keys() -> Iterator[str]:
    for group in range(20):
        for i in range(500):
            yield f"g{group:02d}/{i:04d}"


def test_10000_keys_with_delimiter(server: Any, s3: Any, bucket: str) -> None:
    keys = list(_wide_keys())
    seed(server, bucket, keys)
    groups = [f"g{g:02d}/" for g in range(20)]

    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert prefixes_of(page) == groups
    assert keys_of(page) == []
    assert page["KeyCount"] == 20
    assert page["IsTruncated"] is False
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/")
    assert prefixes_of(v1) == groups

    paged = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 3}))
    assert [c for p in paged for c in prefixes_of(p)] == groups
    assert len(paged) == 7

    inner = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="g07/",
                                                              Delimiter="/"))
    assert [k for p in inner for k in keys_of(p)] == [f"g07/{i:04d}" for i in range(500)]

    total = sum(p["KeyCount"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    assert total == 10000
