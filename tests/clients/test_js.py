"""The AWS SDK for JavaScript v3 (npm, run with node) in the client matrix.

`tests/clients/js/matrix.mjs` performs one operation per run; `npm ci --prefix tests/clients/js`
installs the locked SDK (`.ci/get-clients.sh` does it in CI).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

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
