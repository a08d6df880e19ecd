"""DSSE-KMS (aws:kms:dsse): two independent AES-256-GCM layers, each with its own data key
wrapped by the KMS key; headers, ranges, multipart, copies and bucket default as AWS."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import Server
from tests.integration.test_sse import ARN, body, on_disk
from tests.integration.test_sse import bkt as bkt  # test_sse fixtures, re-exported
from tests.integration.test_sse import c as c
from tests.integration.test_sse import sse_server as sse_server

MiB = 1024 * 1024


def records(data_dir: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(data_dir / ".smarts3" / "meta.db") as db:
        rows = db.execute("SELECT key, meta FROM objects").fetchall()
    out = {}
    for key, meta in rows:
        extra = json.loads(meta)["extra"]
        if "sse" in extra:
            out[key.decode() if isinstance(key, bytes) else key] = json.loads(extra["sse"])
    return out


def test_dsse_put_get_ranges_and_two_layers_on_disk(sse_server: Server, c: Any, bkt: str) -> None:
    marker = b"DSSE-MARKER-" + os.urandom(8).hex().encode()
    size = 200_003
    data = body(size, marker)
    put = c.put_object(Bucket=bkt, Key="k", Body=data, ServerSideEncryption="aws:kms:dsse", SSEKMSKeyId="app")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms:dsse", ARN)
    assert put["ETag"] != f'"{hashlib.md5(data).hexdigest()}"'  # as SSE-KMS: not the plaintext MD5
    got = c.get_object(Bucket=bkt, Key="k")
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"], got["ETag"]) == ("aws:kms:dsse", ARN, put["ETag"])
    assert got["Body"].read() == data
    assert c.get_object(Bucket=bkt, Key="k", Range="bytes=65530-131080")["Body"].read() == data[65530:131081]
    assert c.get_object(Bucket=bkt, Key="k", Range="bytes=-5")["Body"].read() == data[-5:]
    assert c.head_object(Bucket=bkt, Key="k")["ServerSideEncryption"] == "aws:kms:dsse"
    default = c.put_object(Bucket=bkt, Key="d", Body=b"x", ServerSideEncryption="aws:kms:dsse")
    assert default["SSEKMSKeyId"].endswith(":alias/aws/s3")
    assert c.get_object(Bucket=bkt, Key="d")["Body"].read() == b"x"
    assert not on_disk(sse_server.data_dir, marker)
    # Two data keys, wrapped apart; every chunk carries two 16-byte tags (one per layer).
    record = records(sse_server.data_dir)["k"]
    assert record["m"] == "aws:kms:dsse" and record["w"] != record["w2"]
    sealed = 16 + size + -(-size // 65536) * 32
    assert any((Path(d) / n).stat().st_size == sealed for d, _, files in os.walk(sse_server.data_dir) for n in files)


def test_dsse_multipart_copy_and_bucket_default(c: Any, bkt: str) -> None:
    c.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": "app"}}]})
    rule = c.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": "app"}
    put = c.put_object(Bucket=bkt, Key="by-default", Body=b"defaulted")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms:dsse", ARN)
    parts = [body(5 * MiB), body(70_000)]
    upload = c.create_multipart_upload(Bucket=bkt, Key="mp")  # the bucket default applies
    assert upload["ServerSideEncryption"] == "aws:kms:dsse"
    etags = [c.upload_part(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, 1)]
    c.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    whole = b"".join(parts)
    got = c.get_object(Bucket=bkt, Key="mp")
    assert got["ServerSideEncryption"] == "aws:kms:dsse" and got["Body"].read() == whole
    across = c.get_object(Bucket=bkt, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert across["Body"].read() == whole[5 * MiB - 10 : 5 * MiB + 10]
    assert c.get_object(Bucket=bkt, Key="mp", PartNumber=2)["Body"].read() == parts[1]
    # Copies: DSSE -> SSE-S3 -> DSSE (explicit), and the body survives each re-encryption.
    to_s3 = c.copy_object(Bucket=bkt, Key="s3", CopySource={"Bucket": bkt, "Key": "mp"},
                          ServerSideEncryption="AES256")
    assert to_s3["ServerSideEncryption"] == "AES256"
    back = c.copy_object(Bucket=bkt, Key="dsse", CopySource={"Bucket": bkt, "Key": "s3"},
                         ServerSideEncryption="aws:kms:dsse", SSEKMSKeyId="app")
    assert (back["ServerSideEncryption"], back["SSEKMSKeyId"]) == ("aws:kms:dsse", ARN)
    assert c.get_object(Bucket=bkt, Key="dsse")["Body"].read() == whole
    context = base64.b64encode(json.dumps({"layer": "two"}).encode()).decode()
    with_context = c.put_object(Bucket=bkt, Key="ctx", Body=b"c", ServerSideEncryption="aws:kms:dsse",
                                SSEKMSKeyId="app", SSEKMSEncryptionContext=context)
    assert with_context["SSEKMSEncryptionContext"] == context
    assert c.get_object(Bucket=bkt, Key="ctx")["Body"].read() == b"c"
