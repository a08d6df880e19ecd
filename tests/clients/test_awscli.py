"""The AWS CLI (v1, from PyPI) in the client matrix: `aws s3` for what users type, `aws s3api` for ranges."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.sse_support import CUSTOMER_KEY, CUSTOMER_KEY_MD5, KMS_ARN, sse_matrix
from tests.clients.support import (
    SMALL,
    ClientSuite,
    Driver,
    Matrix,
    ToolError,
    check_presigned,
    missing,
    run_tool,
    venv_tool,
)


class AwsCliDriver(Driver):
    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        aws = venv_tool("aws")
        if aws is None:
            missing("the AWS CLI (`aws`) is not installed (pip install awscli)")
        assert aws is not None
        self.aws = aws
        home = work / "home"
        home.mkdir()
        config = work / "aws-config"
        # 8 MiB parts (the default) make the 20 MiB upload a 3-part multipart upload.
        config.write_text("[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 8MB\n"
                          "  multipart_chunksize = 8MB\n")
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-credentials"),
            "AWS_ACCESS_KEY_ID": matrix.access_key,
            "AWS_SECRET_ACCESS_KEY": matrix.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }

    def run(self, *args: str) -> bytes:
        return run_tool([self.aws, "--endpoint-url", self.matrix.url, *args], self.env)

    def version(self) -> str:
        # "aws-cli/1.46.3 Python/3.11.7 Linux/... botocore/1.43.62" (awscli 1.4x bundles its botocore)
        fields = dict(f.split("/", 1) for f in run_tool([self.aws, "--version"], self.env).decode().split())
        return f"aws-cli {fields['aws-cli']} (botocore {fields.get('botocore', '?')}, Python {fields['Python']})"

    def make_bucket(self, bucket: str) -> None:
        self.run("s3", "mb", f"s3://{bucket}")

    def remove_bucket(self, bucket: str) -> None:
        self.run("s3", "rb", "--force", f"s3://{bucket}")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.run("s3", "cp", "--no-progress", str(self.tmpfile(data)), f"s3://{bucket}/{key}")

    def get(self, bucket: str, key: str) -> bytes:
        dest = self.tmpfile()
        self.run("s3", "cp", "--no-progress", f"s3://{bucket}/{key}", str(dest))
        return dest.read_bytes()

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        dest = self.tmpfile()
        spec = f"bytes={start}-{'' if end is None else end}"
        out = json.loads(self.run("s3api", "get-object", "--bucket", bucket, "--key", key, "--range", spec,
                                  str(dest)))
        assert out["ContentRange"].startswith(f"bytes {start}-"), out
        return dest.read_bytes()

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        assert delimiter == "/", "aws s3 ls always lists with delimiter '/'"
        keys: set[str] = set()
        prefixes: set[str] = set()
        for line in self.run("s3", "ls", f"s3://{bucket}/{prefix}").decode().splitlines():
            if m := re.fullmatch(r"\s*PRE (.+)", line):
                prefixes.add(prefix + m.group(1))
            elif m := re.fullmatch(r"\S+ \S+\s+\d+ (.+)", line):
                keys.add(prefix + m.group(1))
        # The same question through s3api, which shows the raw ListObjectsV2 answer.
        raw = json.loads(self.run("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix,
                                  "--delimiter", delimiter) or b"{}")
        assert {o["Key"] for o in raw.get("Contents", [])} == keys, raw
        assert {p["Prefix"] for p in raw.get("CommonPrefixes", [])} == prefixes, raw
        return keys, prefixes

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        self.run("s3", "cp", "--no-progress", str(path), f"s3://{bucket}/{key}")

    def copy(self, bucket: str, source: str, dest: str) -> None:
        self.run("s3", "cp", "--no-progress", f"s3://{bucket}/{source}", f"s3://{bucket}/{dest}")

    def delete(self, bucket: str, key: str) -> None:
        self.run("s3", "rm", f"s3://{bucket}/{key}")

    def presign_get(self, bucket: str, key: str) -> str:
        return self.run("s3", "presign", f"s3://{bucket}/{key}", "--expires-in", "300").decode().strip()

    def list_denied(self, bucket: str) -> str:
        try:
            self.run("s3", "ls", f"s3://{bucket}")
        except ToolError as exc:
            return exc.output
        raise AssertionError(f"aws s3 ls s3://{bucket} succeeded without a grant")


class TestAwsCli(ClientSuite):
    client = "awscli"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return AwsCliDriver(matrix, work)

    def test_presigned_get_sigv4(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        """`aws s3 presign` signs with SigV2 unless the profile sets `s3.signature_version = s3v4`."""
        assert isinstance(drv, AwsCliDriver)
        matrix.oracle.put_object(Bucket=bucket, Key="presign/v4 file.bin", Body=SMALL)
        config = drv.work / "aws-config-v4"
        config.write_text("[default]\nregion = us-east-1\ns3 =\n  signature_version = s3v4\n")
        env = {**drv.env, "AWS_CONFIG_FILE": str(config)}
        url = run_tool([drv.aws, "--endpoint-url", matrix.url, "s3", "presign",
                        f"s3://{bucket}/presign/v4 file.bin", "--expires-in", "300"], env).decode().strip()
        assert "X-Amz-Signature=" in url
        check_presigned(self.client, url, bucket, SMALL)

    def test_versioning(self, drv: Driver, matrix: Matrix) -> None:
        """`aws s3api` over versioning: the state, list-object-versions (paged), get-object --version-id."""
        assert isinstance(drv, AwsCliDriver)
        name = matrix.new_bucket_name(self.client)
        matrix.oracle.create_bucket(Bucket=name)
        drv.run("s3api", "put-bucket-versioning", "--bucket", name,
                "--versioning-configuration", "Status=Enabled")
        assert json.loads(drv.run("s3api", "get-bucket-versioning", "--bucket", name))["Status"] == "Enabled"
        ids = [matrix.oracle.put_object(Bucket=name, Key=f"v/{k}", Body=f"{k}{i}".encode())["VersionId"]
               for k in ("a", "b") for i in range(3)]
        marker = matrix.oracle.delete_object(Bucket=name, Key="v/a")["VersionId"]
        # --page-size 2: the CLI follows NextKeyMarker/NextVersionIdMarker across pages.
        listed = json.loads(drv.run("s3api", "list-object-versions", "--bucket", name, "--prefix", "v/",
                                    "--page-size", "2"))
        assert [v["VersionId"] for v in listed["Versions"]] == ids[2::-1] + ids[:2:-1]
        assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [("v/a", marker, True)]
        out = drv.work / "version-0"
        head = json.loads(drv.run("s3api", "get-object", "--bucket", name, "--key", "v/a",
                                  "--version-id", ids[0], str(out)))
        assert head["VersionId"] == ids[0]
        assert out.read_bytes() == b"a0"
        try:
            drv.run("s3api", "get-object", "--bucket", name, "--key", "v/a", str(out))
        except ToolError as exc:
            assert "NoSuchKey" in exc.output
        else:
            raise AssertionError("GET of a key whose current version is a delete marker succeeded")

    def test_object_retention(self, drv: Driver, matrix: Matrix) -> None:
        """`aws s3api` over Object Lock: put/get-object-retention and legal hold, and a refused delete."""
        assert isinstance(drv, AwsCliDriver)
        name = matrix.new_bucket_name(self.client)
        matrix.oracle.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        version = matrix.oracle.put_object(Bucket=name, Key="locked", Body=b"keep")["VersionId"]
        drv.run("s3api", "put-object-retention", "--bucket", name, "--key", "locked",
                "--retention", "Mode=GOVERNANCE,RetainUntilDate=2099-01-01T00:00:00Z")
        retention = json.loads(drv.run("s3api", "get-object-retention", "--bucket", name, "--key", "locked"))
        assert retention["Retention"]["Mode"] == "GOVERNANCE"
        assert retention["Retention"]["RetainUntilDate"].startswith("2099-01-01T00:00:00")
        drv.run("s3api", "put-object-legal-hold", "--bucket", name, "--key", "locked", "--legal-hold", "Status=ON")
        hold = json.loads(drv.run("s3api", "get-object-legal-hold", "--bucket", name, "--key", "locked"))
        assert hold["LegalHold"]["Status"] == "ON"
        try:
            drv.run("s3api", "delete-object", "--bucket", name, "--key", "locked", "--version-id", version)
        except ToolError as exc:
            assert "AccessDenied" in exc.output
        else:
            raise AssertionError("a locked version was deleted")
        # Release it (root may bypass GOVERNANCE) so the bucket can go.
        matrix.oracle.put_object_legal_hold(Bucket=name, Key="locked", LegalHold={"Status": "OFF"})
        matrix.oracle.delete_object(Bucket=name, Key="locked", VersionId=version, BypassGovernanceRetention=True)
        matrix.oracle.delete_bucket(Bucket=name)


@pytest.fixture(scope="module")
def sse_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsCliDriver]:
    with sse_matrix(tmp_path_factory.mktemp("awscli-sse")) as m:
        yield AwsCliDriver(m, tmp_path_factory.mktemp("awscli-sse-work"))


def test_sse_cp_in_every_mode(sse_cli: AwsCliDriver) -> None:
    """`aws s3 cp --sse AES256`, `--sse aws:kms --sse-kms-key-id app` and `--sse-c AES256 --sse-c-key`
    (the raw key from a file), up and down, for a single PUT and a 2-part upload (8 MiB parts)."""
    drv, oracle = sse_cli, sse_cli.matrix.oracle
    oracle.create_bucket(Bucket="cli-sse")
    small, large = drv.tmpfile(os.urandom(100_000)), drv.tmpfile(os.urandom(9 * 1024 * 1024))
    key_file = drv.tmpfile(CUSTOMER_KEY)
    ssec = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    modes = {
        "s3": (["--sse", "AES256"], [], {"ServerSideEncryption": "AES256"}),
        "kms": (["--sse", "aws:kms", "--sse-kms-key-id", "app"], [],
                {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_ARN}),
        "c": (ssec, ssec, {"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": CUSTOMER_KEY_MD5}),
    }
    for mode, (up, down, expected) in modes.items():
        for name, src in (("small", small), ("large", large)):
            key = f"{mode}/{name}"
            drv.run("s3", "cp", "--no-progress", str(src), f"s3://cli-sse/{key}", *up)
            back = drv.tmpfile()
            drv.run("s3", "cp", "--no-progress", f"s3://cli-sse/{key}", str(back), *down)
            assert back.read_bytes() == src.read_bytes(), key
            extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": CUSTOMER_KEY} if mode == "c" else {}
            head = oracle.head_object(Bucket="cli-sse", Key=key, **extra)
            assert {k: head.get(k) for k in expected} == expected, key
            assert head["ETag"].endswith('-2"') == (name == "large"), key
    # Without the key the download fails with S3's 400, and nothing is written.
    refused = drv.tmpfile()
    with pytest.raises(ToolError) as err:
        drv.run("s3", "cp", "--no-progress", "s3://cli-sse/c/small", str(refused))
    assert "400" in err.value.output and not refused.exists()
