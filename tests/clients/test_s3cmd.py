"""s3cmd (the Debian package) in the client matrix, through a temporary .s3cfg (path style, SigV4)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.clients.support import SMALL, ClientSuite, Driver, Matrix, ToolError, missing, run_tool


class S3cmdDriver(Driver):
    # s3cmd has no range option; `get --continue` resumes a partial file with `Range: bytes=N-`.
    closed_range = False

    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        s3cmd = shutil.which("s3cmd")
        if s3cmd is None:
            missing("s3cmd is not installed (apt-get install s3cmd)", system=True)
        assert s3cmd is not None
        self.s3cmd = s3cmd
        self.config = work / "s3cfg"
        self.config.write_text(
            "[default]\n"
            f"access_key = {matrix.access_key}\nsecret_key = {matrix.secret_key}\n"
            f"host_base = {matrix.host_port}\nhost_bucket = {matrix.host_port}\n"
            "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
            "progress_meter = False\nmax_retries = 1\n"
        )
        self.config.chmod(0o600)
        home = work / "home"
        home.mkdir()
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}

    def run(self, *args: str) -> bytes:
        return run_tool([self.s3cmd, "-c", str(self.config), "--no-progress", *args],
                        self.env)

    def version(self) -> str:
        # "s3cmd version 2.3.0"
        return run_tool([self.s3cmd, "--version"], self.env).decode().strip().replace(" version", "")

    def make_bucket(self, bucket: str) -> None:
        self.run("mb", f"s3://{bucket}")

    def remove_bucket(self, bucket: str) -> None:
        self.run("rb", "--recursive", f"s3://{bucket}")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.run("put", str(self.tmpfile(data)), f"s3://{bucket}/{key}")

    def get(self, bucket: str, key: str) -> bytes:
        dest = self.tmpfile()
        self.run("get", "--force", f"s3://{bucket}/{key}", str(dest))
        return dest.read_bytes()

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        assert end is None, "s3cmd only asks for open-ended ranges"
        # A partial download of the first `start` bytes; --continue fetches the rest with a Range.
        full = self.matrix.oracle.get_object(Bucket=bucket, Key=key)["Body"].read()
        dest = self.tmpfile(full[:start])
        self.run("get", "--continue", f"s3://{bucket}/{key}", str(dest))
        data = dest.read_bytes()
        assert data[:start] == full[:start]
        return data[start:]

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        assert delimiter == "/", "s3cmd ls lists with delimiter '/'"
        keys: set[str] = set()
        prefixes: set[str] = set()
        base = f"s3://{bucket}/"
        for line in self.run("ls", f"{base}{prefix}").decode().splitlines():
            if m := re.fullmatch(r"\s*DIR\s+(\S.*)", line):
                prefixes.add(m.group(1).removeprefix(base))
            elif m := re.fullmatch(r"\S+ \S+\s+\d+\s+(\S.*)", line):
                keys.add(m.group(1).removeprefix(base))
        return keys, prefixes

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        self.run("put", "--multipart-chunk-size-mb=8", str(path), f"s3://{bucket}/{key}")

    def copy(self, bucket: str, source: str, dest: str) -> None:
        self.run("cp", f"s3://{bucket}/{source}", f"s3://{bucket}/{dest}")

    def delete(self, bucket: str, key: str) -> None:
        self.run("del", f"s3://{bucket}/{key}")

    def presign_get(self, bucket: str, key: str) -> str:
        # s3cmd 2.x signs URLs with SigV2 only (S3/Crypto.py sign_url_v2).
        return self.run("signurl", f"s3://{bucket}/{key}", "+300").decode().strip()

    def list_denied(self, bucket: str) -> str:
        try:
            self.run("ls", f"s3://{bucket}")
        except ToolError as exc:
            return exc.output
        raise AssertionError(f"s3cmd ls s3://{bucket} succeeded without a grant")


# s3cmd cp reads the source's ACL (GET ?acl), copies, then writes the ACL document onto the copy
# (PUT ?acl). PutObjectAcl needs admin (as s3:PutObjectAcl on AWS), so with the matrix's readwrite
# credential the copy is made and s3cmd then exits with AccessDenied; `cp --acl-private` skips that step.


class TestS3cmd(ClientSuite):
    client = "s3cmd"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return S3cmdDriver(matrix, work)

    @pytest.mark.xfail(raises=ToolError, reason="s3cmd re-applies the source ACL; PutObjectAcl needs admin")
    def test_copy(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        super().test_copy(drv, matrix, bucket)

    def test_copy_acl_private(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        """`cp --acl-private` skips s3cmd's ACL round trip: the copy itself works."""
        assert isinstance(drv, S3cmdDriver)
        matrix.oracle.put_object(Bucket=bucket, Key="copy/private-source.bin", Body=SMALL)
        drv.run("cp", "--acl-private", f"s3://{bucket}/copy/private-source.bin",
                f"s3://{bucket}/copy/private-dest.bin")
        got = matrix.oracle.get_object(Bucket=bucket, Key="copy/private-dest.bin")["Body"].read()
        assert got == SMALL
