"""The AWS SDK for JavaScript v3 (npm, run with node) in the client matrix.

`tests/clients/js/matrix.mjs` performs one operation per run; `npm ci --prefix tests/clients/js`
installs the locked SDK (`.ci/get-clients.sh` does it in CI).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.sse_support import CUSTOMER_KEY, CUSTOMER_KEY_B64, CUSTOMER_KEY_MD5, KMS_ARN, sse_matrix
from tests.clients.support import SMALL, ClientSuite, Driver, Matrix, ToolError, missing, run_tool

JS_DIR = Path(__file__).parent / "js"


class JsDriver(Driver):
    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        node = shutil.which("node")
        if node is None:
            missing("node is not installed (the AWS SDK for JavaScript v3 needs Node.js >= 18)", system=True)
        if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir():
            missing("the AWS SDK for JavaScript v3 is not installed (npm ci --prefix tests/clients/js)", system=True)
        assert node is not None
        self.node = node
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(work),
            "S3_ENDPOINT": matrix.url,
            "AWS_ACCESS_KEY_ID": matrix.access_key,
            "AWS_SECRET_ACCESS_KEY": matrix.secret_key,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(work / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def run(self, *args: str) -> Any:
        return json.loads(run_tool([self.node, str(JS_DIR / "matrix.mjs"), *args], self.env, cwd=JS_DIR))

    def version(self) -> str:
        v = self.run("version")
        return (f"@aws-sdk/client-s3 {v['client-s3']} (s3-request-presigner {v['s3-request-presigner']}, "
                f"node {v['node']})")

    def make_bucket(self, bucket: str) -> None:
        self.run("mb", bucket)

    def remove_bucket(self, bucket: str) -> None:
        self.run("rb", bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.run("put", bucket, key, str(self.tmpfile(data)))

    def get(self, bucket: str, key: str) -> bytes:
        dest = self.tmpfile()
        self.run("get", bucket, key, str(dest))
        return dest.read_bytes()

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        dest = self.tmpfile()
        out = self.run("range", bucket, key, f"bytes={start}-{'' if end is None else end}", str(dest))
        assert out["contentRange"].startswith(f"bytes {start}-"), out
        return dest.read_bytes()

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        out = self.run("list", bucket, prefix, delimiter)
        return set(out["keys"]), set(out["prefixes"])

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        self.run("mpu", bucket, key, str(path))

    def copy(self, bucket: str, source: str, dest: str) -> None:
        self.run("copy", bucket, source, dest)

    def delete(self, bucket: str, key: str) -> None:
        self.run("del", bucket, key)

    def presign_get(self, bucket: str, key: str) -> str:
        return str(self.run("presign", bucket, key)["url"])

    def list_denied(self, bucket: str) -> str:
        try:
            self.run("denied", bucket)
        except ToolError as exc:
            return exc.output
        raise AssertionError(f"ListObjectsV2 on {bucket} succeeded without a grant")


class TestJs(ClientSuite):
    client = "js"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return JsDriver(matrix, work)

    def test_put_stream_chunked(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        """A stream body: the SDK's default aws-chunked upload with a CRC32 trailer."""
        assert isinstance(drv, JsDriver)
        drv.run("putstream", bucket, "stream/body.bin", str(drv.tmpfile(SMALL * 70)))
        got = matrix.oracle.get_object(Bucket=bucket, Key="stream/body.bin", ChecksumMode="ENABLED")
        assert got["Body"].read() == SMALL * 70
        assert got.get("ChecksumCRC32"), "the SDK's CRC32 trailer was not stored"

    def test_versioning(self, drv: Driver, matrix: Matrix) -> None:
        """Versioning through the JS SDK: version ids, a delete marker, ListObjectVersions pages."""
        assert isinstance(drv, JsDriver)
        name = matrix.new_bucket_name(self.client)
        matrix.oracle.create_bucket(Bucket=name)
        drv.run("versioning", name, "Enabled")
        assert matrix.oracle.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        ids = [drv.run("putv", name, "doc", str(drv.tmpfile(f"v{i}".encode())))["versionId"] for i in range(3)]
        assert len(set(ids)) == 3
        deleted = drv.run("del", name, "doc")
        assert deleted["deleteMarker"] is True
        listed = drv.run("versions", name, "", "1")
        assert listed["versions"] == [["doc", vid, False] for vid in reversed(ids)]
        assert listed["markers"] == [["doc", deleted["versionId"], True]]
        dest = drv.tmpfile()
        assert drv.run("getv", name, "doc", ids[0], str(dest))["versionId"] == ids[0]
        assert dest.read_bytes() == b"v0"
        # Removing the marker by id makes the newest version current again.
        assert drv.run("del", name, "doc", deleted["versionId"])["deleteMarker"] is True
        assert matrix.oracle.get_object(Bucket=name, Key="doc")["VersionId"] == ids[2]


@pytest.fixture(scope="module")
def sse_drv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsDriver]:
    with sse_matrix(tmp_path_factory.mktemp("js-sse")) as m:
        yield JsDriver(m, tmp_path_factory.mktemp("js-sse-work"))


def test_sse_put_get_every_mode(sse_drv: JsDriver) -> None:
    """SSE-S3, SSE-KMS (key id + encryption context), DSSE-KMS and SSE-C (SSECustomerKey) through
    the JS SDK v3: what it sends, what it parses back, and what the server stored (checked with boto3)."""
    drv, oracle = sse_drv, sse_drv.matrix.oracle
    oracle.create_bucket(Bucket="js-sse")
    data = os.urandom(150_000)
    src = str(drv.tmpfile(data))
    context = base64.b64encode(json.dumps({"app": "js"}).encode()).decode()

    s3 = drv.run("sseput", "js-sse", "s3", src, "AES256")
    assert (s3["sse"], s3["etag"]) == ("AES256", f'"{hashlib.md5(data).hexdigest()}"')
    kms = drv.run("sseput", "js-sse", "kms", src, "aws:kms", "app", context)
    assert (kms["sse"], kms["kmsKeyId"], kms["context"]) == ("aws:kms", KMS_ARN, context)
    dsse = drv.run("sseput", "js-sse", "dsse", src, "aws:kms:dsse", "app")
    assert (dsse["sse"], dsse["kmsKeyId"]) == ("aws:kms:dsse", KMS_ARN)
    ssec = drv.run("sseput", "js-sse", "c", src, "SSE-C", CUSTOMER_KEY_B64)
    assert (ssec["customerAlgorithm"], ssec["customerKeyMD5"], ssec["sse"]) == ("AES256", CUSTOMER_KEY_MD5, None)

    for key, sse, kms_id in (("s3", "AES256", None), ("kms", "aws:kms", KMS_ARN), ("dsse", "aws:kms:dsse", KMS_ARN)):
        dest = drv.tmpfile()
        got = drv.run("sseget", "js-sse", key, str(dest))
        assert (got["sse"], got["kmsKeyId"], got["length"]) == (sse, kms_id, len(data)), key
        assert dest.read_bytes() == data, key
        assert oracle.head_object(Bucket="js-sse", Key=key)["ServerSideEncryption"] == sse
    dest = drv.tmpfile()
    got = drv.run("sseget", "js-sse", "c", str(dest), CUSTOMER_KEY_B64)
    assert (got["customerAlgorithm"], got["customerKeyMD5"]) == ("AES256", CUSTOMER_KEY_MD5)
    assert dest.read_bytes() == data
    ranged = drv.tmpfile()
    drv.run("sseget", "js-sse", "c", str(ranged), CUSTOMER_KEY_B64, "bytes=65530-65545")
    assert ranged.read_bytes() == data[65530:65546]
    with pytest.raises(ToolError) as err:  # no key: the SDK gets S3's 400
        drv.run("sseget", "js-sse", "c", str(drv.tmpfile()))
    assert '"error":"InvalidRequest","status":400' in err.value.output.replace(" ", "")
    stored = oracle.get_object(Bucket="js-sse", Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=CUSTOMER_KEY)
    assert stored["Body"].read() == data


def test_sse_bucket_default_encryption(sse_drv: JsDriver) -> None:
    """PutBucketEncryption (SSE-KMS with a bucket key) through the JS SDK; a PUT with no
    encryption headers then comes back encrypted as the default says."""
    drv, oracle = sse_drv, sse_drv.matrix.oracle
    oracle.create_bucket(Bucket="js-sse-default")
    rules = drv.run("ssedefault", "js-sse-default", "aws:kms", "app", "true")["rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "app"},
                      "BucketKeyEnabled": True}]
    put = drv.run("sseput", "js-sse-default", "plain", str(drv.tmpfile(b"by default")), "none")
    assert (put["sse"], put["kmsKeyId"], put["bucketKey"]) == ("aws:kms", KMS_ARN, True)
    head = oracle.head_object(Bucket="js-sse-default", Key="plain")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_ARN)
    drv.run("ssedefault", "js-sse-default", "AES256", "-", "false")
    assert drv.run("sseput", "js-sse-default", "s3", str(drv.tmpfile(b"x")), "none")["sse"] == "AES256"
