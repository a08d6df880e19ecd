"""Keys that look like paths, escapes or controls: every one round-trips, none reaches the disk.

A server of its own runs on `<tmp>/cage/data`, so afterwards the whole tree can be
checked: every file is inside the data directory and under `.smarts3/`, and nothing
appeared beside the data directory or in the server's working directory.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, start_subprocess_server, stop_server

pytestmark = pytest.mark.both_metadata

# Every control character but LF, which has its own test below.
CONTROL = "".join(chr(c) for c in range(1, 32) if c != 0x0A)

HOSTILE_KEYS = [
    "../x",
    "../../etc/passwd",
    "../../../../../../../../tmp/smarts3-escape",
    ".",
    "..",
    "./a",
    "a/./b",
    "a/../b",
    "a//b",
    "//double-leading",
    "/leading",
    "/",
    "dir/",
    "a",
    "a/b",
    "a/b/",
    "..\\..\\windows",
    "C:\\evil",
    ".smarts3",
    ".smarts3/meta.db",
    ".smarts3/tmp/x",
    "~/x",
    "$HOME",
    "%2F",
    "a%2Fb",
    "%2e%2e/x",
    "%00",
    "+ plus and space +",
    " ",
    "ctl" + CONTROL,
    "\x7f-del",
    "tab\tand-return\r",
    "é/ñ/日本語/😀",
    "\u202eright-to-left",
    "\ufeffbom",
    "x" * 300,  # a single segment longer than any filename
    "/".join(["d"] * 512)[:1024],
    "k" * 1024,
    "é" * 512,  # 1,024 bytes of two-byte characters
]


def tree_is_inside(data_dir: Path) -> None:
    root = data_dir.resolve()
    for dirpath, dirnames, filenames in os.walk(data_dir, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            resolved = path.resolve()
            assert resolved.is_relative_to(root), f"{path} resolves outside: {resolved}"
            assert path.relative_to(data_dir).parts[0] == ".smarts3", f"stray {path}"


def body_for(key: str) -> bytes:
    return key.encode("utf-8") + b"|" + hashlib.sha256(key.encode("utf-8")).digest()


@pytest.fixture(scope="module", params=["files", "inline"])
def caged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """Both kinds of body: every one in a file of its own, or (these bodies being small) in its row."""
    cage = tmp_path_factory.mktemp("cage")
    data_dir = cage / "data"
    inline_max = "0" if request.param == "files" else "32768"
    proc, url = start_subprocess_server(data_dir, "--fsync", "never", env={"SMARTS3_INLINE_MAX_BYTES": inline_max})
    try:
        yield Server(url, data_dir), cage
    finally:
        stop_server(proc, timeout=15)


def test_hostile_keys_round_trip_and_stay_inside(caged: tuple[Server, Path]) -> None:
    server, cage = caged
    cwd_before = set(os.listdir(os.getcwd()))
    s3 = server.client()
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    assert len(set(HOSTILE_KEYS)) == len(HOSTILE_KEYS)
    assert all(len(k.encode()) <= 1024 for k in HOSTILE_KEYS)

    for key in HOSTILE_KEYS:
        body = body_for(key)
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert put["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"', repr(key)

    for key in HOSTILE_KEYS:
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body_for(key), repr(key)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentLength"] == len(body_for(key)), repr(key)

    listed = [c["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for c in p.get("Contents", [])]
    assert listed == sorted(HOSTILE_KEYS, key=lambda k: k.encode("utf-8"))
    v1 = [c["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket)
          for c in p.get("Contents", [])]
    assert v1 == listed

    # `a` and `a/b` and `a/b/` are three distinct objects, and `a/..` is not `.`.
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == body_for("a")
    assert s3.get_object(Bucket=bucket, Key="a/b/")["Body"].read() == body_for("a/b/")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="a/..")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    tree_is_inside(server.data_dir)
    assert sorted(os.listdir(cage)) == ["data"]
    assert sorted(os.listdir(server.data_dir)) == [".smarts3"]
    assert not Path("/tmp/smarts3-escape").exists()

    for key in HOSTILE_KEYS:
        s3.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=bucket, Key=key)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, repr(key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)

    tree_is_inside(server.data_dir)
    assert sorted(os.listdir(cage)) == ["data"]
    assert set(os.listdir(os.getcwd())) == cwd_before


@pytest.mark.parametrize("key", ["line\nfeed", "\n", "a/\n/b", "ctl" + "".join(map(chr, range(1, 32)))])
def test_keys_with_line_feed(caged: tuple[Server, Path], key: str) -> None:
    server, _ = caged
    s3 = server.client()
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body_for(key))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body_for(key)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body_for(key))
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    tree_is_inside(server.data_dir)


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 512 + "x", "/".join(["d"] * 600)])
def test_key_over_1024_bytes_is_refused(caged: tuple[Server, Path], key: str) -> None:
    server, _ = caged
    s3 = server.client()
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    assert len(key.encode()) > 1024
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key=key, Body=b"too long")
    response = exc.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "KeyTooLongError"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    upload = None
    with pytest.raises(ClientError) as exc:
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)
    assert upload is None
    assert exc.value.response["Error"]["Code"] == "KeyTooLongError"
    tree_is_inside(server.data_dir)


def test_hostile_keys_through_copy_and_multipart(caged: tuple[Server, Path]) -> None:
    server, cage = caged
    s3 = server.client()
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="../src", Body=b"source")
    s3.copy_object(Bucket=bucket, Key="../../copied", CopySource={"Bucket": bucket, "Key": "../src"})
    assert s3.get_object(Bucket=bucket, Key="../../copied")["Body"].read() == b"source"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="../mp/..")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="../mp/..", UploadId=upload, PartNumber=1,
                          Body=b"multi")
    s3.complete_multipart_upload(Bucket=bucket, Key="../mp/..", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="../mp/..")["Body"].read() == b"multi"
    listed = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["../../copied", "../mp/..", "../src"]
    tree_is_inside(server.data_dir)
    assert sorted(os.listdir(cage)) == ["data"]


def test_session_server_tree_is_inside(server: Any, s3: Any, bucket: str) -> None:
    """The shared server too: whatever the other tests wrote, all of it is under .smarts3/."""
    for key in ("../escape", "..", "/abs", "a//b"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    tree_is_inside(server.data_dir)
    assert sorted(os.listdir(server.data_dir.parent)).count(server.data_dir.name) == 1
