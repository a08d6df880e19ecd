"""SSE-KMS encryption context bound into the data key's wrapping (record version 2): a record
edited to another context does not open, a version-1 record (written before) still does, bad
context headers are AWS's 400, and the context travels on the responses AWS puts it on."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.integration.helpers import client_error, signed

KMS_KEY = os.urandom(32)
MASTER_KEY = os.urandom(32)


def b64json(doc: object) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def with_server(root: Path, fn: Callable[[Server], None]) -> None:
    from smarts3.config.settings import Settings
    from smarts3.pytest_plugin import serving

    keys = root / "keys.json"
    keys.write_text(json.dumps({"masterKeys": [{"id": "m1", "key": base64.b64encode(MASTER_KEY).decode()}],
                                "kmsKeys": [{"id": "app", "key": base64.b64encode(KMS_KEY).decode()}]}))
    settings = Settings(data_dir=root / "data", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        sse_master_keys_file=keys)
    with serving(settings) as url:
        fn(Server(url, root / "data"))


def edit_record(data_dir: Path, key: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite one object's encryption record in the stopped server's database."""
    with sqlite3.connect(data_dir / ".smarts3" / "meta.db") as db:
        for raw_key, meta in db.execute("SELECT key, meta FROM objects").fetchall():
            name = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            if name != key:
                continue
            doc = json.loads(meta)
            record = json.loads(doc["extra"]["sse"])
            change(record)
            doc["extra"]["sse"] = json.dumps(record)
            db.execute("UPDATE objects SET meta = ? WHERE key = ?", (json.dumps(doc), raw_key))
            return
    raise AssertionError(f"no object {key}")


def stored_record(data_dir: Path, key: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    edit_record(data_dir, key, found.update)
    return found


def test_context_is_bound_tamper_fails_and_old_records_open(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    context = b64json({"team": "a", "app": "billing"})

    def write(server: Server) -> None:
        c = server.client()
        c.create_bucket(Bucket="ctx")
        put = c.put_object(Bucket="ctx", Key="k", Body=b"bound body", ServerSideEncryption="aws:kms",
                           SSEKMSKeyId="app", SSEKMSEncryptionContext=context)
        assert put["SSEKMSEncryptionContext"] == context  # PUT answers the context it was given
        for call in (c.get_object, c.head_object):  # GET and HEAD do not (not in AWS's model either)
            answer = call(Bucket="ctx", Key="k")
            assert "SSEKMSEncryptionContext" not in answer
            assert "x-amz-server-side-encryption-context" not in answer["ResponseMetadata"]["HTTPHeaders"]
        c.put_object(Bucket="ctx", Key="bk", Body=b"bucket key", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId="app", BucketKeyEnabled=True)
        for key in ("tampered", "old"):
            c.put_object(Bucket="ctx", Key=key, Body=key.encode() * 1000, ServerSideEncryption="aws:kms",
                         SSEKMSKeyId="app", SSEKMSEncryptionContext=context)

    with_server(tmp_path, write)
    data_dir = tmp_path / "data"
    record = stored_record(data_dir, "k")
    # The bound context: the client's pairs plus aws:s3:arn, the object's ARN (the bucket's with a bucket key).
    assert record["v"] == 2
    assert json.loads(record["ec"]) == {"team": "a", "app": "billing", "aws:s3:arn": "arn:aws:s3:::ctx/k"}
    assert json.loads(stored_record(data_dir, "bk")["ec"]) == {"aws:s3:arn": "arn:aws:s3:::ctx"}
    # The wrapped key really depends on the context: opened with the stored one, refused with another.
    wrapped = base64.b64decode(record["w"])
    aad = b"smarts3-sse-v2\0aws:kms\0\0" + record["ec"].encode()
    assert len(AESGCM(KMS_KEY).decrypt(wrapped[:12], wrapped[12:], aad)) == 32

    def retarget(rec: dict[str, Any]) -> None:
        rec["ec"] = json.dumps({"aws:s3:arn": "arn:aws:s3:::ctx/tampered", "team": "b"})

    def downgrade(rec: dict[str, Any]) -> None:
        """The record as the code before version 2 wrote it: RFC 3394 key wrap, no bound context."""
        blob = base64.b64decode(rec["w"])
        key = AESGCM(KMS_KEY).decrypt(blob[:12], blob[12:], b"smarts3-sse-v2\0aws:kms\0\0" + rec["ec"].encode())
        rec["w"] = base64.b64encode(aes_key_wrap(KMS_KEY, key)).decode()
        del rec["v"], rec["ec"]

    edit_record(data_dir, "tampered", retarget)
    edit_record(data_dir, "old", downgrade)

    def read(server: Server) -> None:
        c = server.client()
        response = signed("GET", f"{server.url}/ctx/tampered")
        assert response.status_code == 500, response.text
        assert "<Code>InternalError</Code>" in response.text and "bound" not in response.text
        old = c.get_object(Bucket="ctx", Key="old")
        assert old["Body"].read() == b"old" * 1000 and old["SSEKMSKeyId"].endswith(":key/app")
        assert c.get_object(Bucket="ctx", Key="old", Range="bytes=3-8")["Body"].read() == b"oldold"
        assert c.get_object(Bucket="ctx", Key="k")["Body"].read() == b"bound body"
        # A copy gets its own context: the destination's ARN, and the pairs the copy request brings.
        copied = c.copy_object(Bucket="ctx", Key="copy", CopySource={"Bucket": "ctx", "Key": "old"},
                               ServerSideEncryption="aws:kms", SSEKMSKeyId="app",
                               SSEKMSEncryptionContext=b64json({"copy": "yes"}))
        assert copied["SSEKMSEncryptionContext"] == b64json({"copy": "yes"})
        assert c.get_object(Bucket="ctx", Key="copy")["Body"].read() == b"old" * 1000

    with_server(tmp_path, read)
    assert "v" not in stored_record(data_dir, "old")
    assert json.loads(stored_record(data_dir, "copy")["ec"]) == {"copy": "yes", "aws:s3:arn": "arn:aws:s3:::ctx/copy"}


@pytest.mark.parametrize("value", [
    "not base64!",
    base64.b64encode(b"not json").decode(),
    b64json(["a", "list"]),
    b64json({"n": 1}),
    b64json({"nested": {"a": "b"}}),
    base64.b64encode(b'{"k": "\xff"}').decode(),  # not UTF-8
    b64json({"aws:s3:arn": "arn:aws:s3:::other/key"}),  # the reserved pair naming another object
])
def test_a_bad_context_header_is_invalid_argument(tmp_path_factory: pytest.TempPathFactory, value: str) -> None:
    def check(server: Server) -> None:
        c = server.client()
        c.create_bucket(Bucket="bad")
        with pytest.raises(ClientError) as err:
            c.put_object(Bucket="bad", Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                         SSEKMSEncryptionContext=value)
        assert client_error(err.value) == ("InvalidArgument", 400)
        assert c.list_objects_v2(Bucket="bad")["KeyCount"] == 0
        with pytest.raises(ClientError) as err:
            c.create_multipart_upload(Bucket="bad", Key="k", ServerSideEncryption="aws:kms",
                                      SSEKMSEncryptionContext=value)
        assert client_error(err.value) == ("InvalidArgument", 400)

    with_server(tmp_path_factory.mktemp("bad"), check)
