"""What every client in the matrix must do, written once; each test module supplies a driver.

A driver wraps one client (a library or a command-line tool) behind the same small set of
operations. `ClientSuite` runs the matrix's operations through the driver and checks every
effect with an independent *oracle* (boto3 with the root credential), so a client that
reports success without having done the work still fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

MIB = 1024 * 1024
MULTIPART_SIZE = 20 * MIB
# Small objects: a recognisable, non-repeating 1,000 bytes so a wrong range is visible.
SMALL = bytes((i * 7 + i // 251) % 256 for i in range(1000))


def in_ci() -> bool:
    return os.environ.get("SMARTS3_CI") == "1"


def skipping_system_clients() -> bool:
    """A developer run without the system clients (`.ci/run` with SMARTS3_SKIP_SYSTEM_CLIENTS=1)."""
    if os.environ.get("SMARTS3_SKIP_SYSTEM_CLIENTS") != "1":
        return False
    if in_ci():
        pytest.fail("SMARTS3_SKIP_SYSTEM_CLIENTS=1 is refused under SMARTS3_CI=1: CI runs every client",
                    pytrace=False)
    return True


def missing(reason: str, *, system: bool = False) -> NoReturn:
    """A client's tool is not installed: skip, except in CI where that is a failure.

    `system`: the tool comes from apt or npm (`.ci/get-clients.sh`), not from the pip extras.
    """
    if system and skipping_system_clients():
        pytest.skip(f"{reason}; SMARTS3_SKIP_SYSTEM_CLIENTS=1 skips the system clients (bash .ci/get-clients.sh)")
    if in_ci():
        pytest.fail(f"SMARTS3_CI=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def venv_tool(name: str) -> str | None:
    """A console script next to this interpreter (the project's .venv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    return shutil.which(name)


class Unsupported(Exception):
    """The client has no way to perform the operation."""


class ToolError(Exception):
    """A command-line client exited non-zero."""

    def __init__(self, argv: list[str], result: subprocess.CompletedProcess[bytes]) -> None:
        self.returncode = result.returncode
        self.output = (result.stdout + result.stderr).decode(errors="replace")
        shown = " ".join(a if len(a) < 200 else a[:200] + "..." for a in argv)
        super().__init__(f"{shown}\nexit {result.returncode}\n{self.output[-4000:]}")


def run_tool(argv: list[str], env: dict[str, str], *, stdin: bytes | None = None, timeout: float = 120,
             cwd: Path | None = None) -> bytes:
    result = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=timeout, cwd=cwd,
                            check=False)
    if result.returncode != 0:
        raise ToolError(argv, result)
    return result.stdout


@dataclass
class Matrix:
    """The server under test and the credential every client uses."""

    url: str
    access_key: str
    secret_key: str
    oracle: Any  # boto3 S3 client with the root credential
    big_file: Path
    big_md5: str
    forbidden_bucket: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    @staticmethod
    def bucket_for(client: str) -> str:
        """The client's declared bucket (readwrite through the `matrix-*` grant)."""
        return f"matrix-{client}"

    @staticmethod
    def new_bucket_name(client: str) -> str:
        """A bucket the client creates and deletes (admin through the `matrix-new-*` grant)."""
        return f"matrix-new-{client}-{uuid.uuid4().hex[:8]}"


class Driver:
    """One client behind the matrix's operations. Keys are plain strings; bodies are bytes."""

    #: False when the client can only ask for an open-ended range (`bytes=N-`).
    closed_range: ClassVar[bool] = True

    def __init__(self, matrix: Matrix, work: Path) -> None:
        self.matrix = matrix
        self.work = work

    def version(self) -> str:
        raise NotImplementedError

    def make_bucket(self, bucket: str) -> None:
        raise NotImplementedError

    def remove_bucket(self, bucket: str) -> None:
        """Delete the bucket and whatever is in it, the way the client's users would."""
        raise NotImplementedError

    def put(self, bucket: str, key: str, data: bytes) -> None:
        raise NotImplementedError

    def get(self, bucket: str, key: str) -> bytes:
        raise NotImplementedError

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        """Bytes start..end inclusive (end None: to the end of the object)."""
        raise NotImplementedError

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        """Keys and common prefixes directly under `prefix`."""
        raise NotImplementedError

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        """Upload `path` the way the client uploads large files: as a multipart upload."""
        raise NotImplementedError

    def copy(self, bucket: str, source: str, dest: str) -> None:
        raise NotImplementedError

    def delete(self, bucket: str, key: str) -> None:
        raise NotImplementedError

    def presign_get(self, bucket: str, key: str) -> str:
        raise Unsupported(f"{type(self).__name__} cannot make presigned URLs")

    def list_denied(self, bucket: str) -> str:
        """List a bucket the credential has no grant on; return the client's error text.

        Must raise AssertionError when the listing succeeds.
        """
        raise NotImplementedError

    # Helpers for command-line drivers.
    def tmpfile(self, data: bytes | None = None) -> Path:
        path = self.work / uuid.uuid4().hex
        if data is not None:
            path.write_bytes(data)
        return path


def check_presigned(client: str, url: str, bucket: str, expected: bytes) -> None:
    """Fetch a presigned URL without credentials; the same signature must not open another key."""
    kind = "SigV4" if "X-Amz-Signature=" in url else "SigV2" if "Signature=" in url else "unsigned?"
    print(f"[client-matrix] {client}: presigned ({kind}) {url}")
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == expected
    parts = urlsplit(url)
    assert parts.path.startswith(f"/{bucket}/"), f"not a path-style URL: {url}"
    other = httpx.get(urlunsplit(parts._replace(path=f"/{bucket}/presign/other.bin")), timeout=30)
    assert other.status_code == 403, other.text


class ClientSuite:
    """The matrix's operations; a test module subclasses this with `client` and `make_driver`."""

    client: ClassVar[str]

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def drv(cls, matrix: Matrix, tmp_path_factory: pytest.TempPathFactory) -> Driver:
        driver = cls().make_driver(matrix, tmp_path_factory.mktemp(f"client-{cls.client}"))
        version = driver.version()
        matrix.versions[cls.client] = version
        print(f"\n[client-matrix] {cls.client}: {version}")
        return driver

    @pytest.fixture(scope="class")
    @classmethod
    def bucket(cls, matrix: Matrix) -> str:
        return matrix.bucket_for(cls.client)

    def test_version(self, drv: Driver, matrix: Matrix, record_property: Any) -> None:
        version = matrix.versions[self.client]
        record_property("client_version", version)
        assert version

    def test_create_and_delete_bucket(self, drv: Driver, matrix: Matrix) -> None:
        name = matrix.new_bucket_name(self.client)
        drv.make_bucket(name)
        matrix.oracle.head_bucket(Bucket=name)
        drv.put(name, "inside/one.txt", b"one")
        drv.remove_bucket(name)
        names = {b["Name"] for b in matrix.oracle.list_buckets()["Buckets"]}
        assert name not in names

    def test_put_get(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        drv.put(bucket, "put-get/hello.bin", SMALL)
        assert matrix.oracle.get_object(Bucket=bucket, Key="put-get/hello.bin")["Body"].read() == SMALL
        matrix.oracle.put_object(Bucket=bucket, Key="put-get/from-oracle.bin", Body=SMALL[::-1])
        assert drv.get(bucket, "put-get/from-oracle.bin") == SMALL[::-1]

    def test_ranged_get(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        matrix.oracle.put_object(Bucket=bucket, Key="range/data.bin", Body=SMALL)
        if drv.closed_range:
            assert drv.get_range(bucket, "range/data.bin", 100, 199) == SMALL[100:200]
        assert drv.get_range(bucket, "range/data.bin", 900, None) == SMALL[900:]

    def test_list_prefix_delimiter(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        for key in ("list/a/1", "list/a/2", "list/b", "list/c/d/e", "list-not/x", "other"):
            matrix.oracle.put_object(Bucket=bucket, Key=key, Body=b"x")
        keys, prefixes = drv.list(bucket, "list/", "/")
        assert keys == {"list/b"}
        assert prefixes == {"list/a/", "list/c/"}

    def test_multipart_20mib(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        drv.put_multipart(bucket, "multipart/big.bin", matrix.big_file)
        head = matrix.oracle.head_object(Bucket=bucket, Key="multipart/big.bin")
        assert head["ContentLength"] == MULTIPART_SIZE
        etag = head["ETag"].strip('"')
        assert "-" in etag, f"ETag {etag} is not a multipart ETag: the client did a single PUT"
        print(f"[client-matrix] {self.client}: multipart ETag {etag}")
        body = matrix.oracle.get_object(Bucket=bucket, Key="multipart/big.bin")["Body"]
        digest = hashlib.md5()
        for chunk in iter(lambda: body.read(MIB), b""):
            digest.update(chunk)
        assert digest.hexdigest() == matrix.big_md5

    def test_copy(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        matrix.oracle.put_object(Bucket=bucket, Key="copy/source.bin", Body=SMALL,
                                 ContentType="application/x-matrix")
        drv.copy(bucket, "copy/source.bin", "copy/dest.bin")
        got = matrix.oracle.get_object(Bucket=bucket, Key="copy/dest.bin")
        assert got["Body"].read() == SMALL
        assert matrix.oracle.get_object(Bucket=bucket, Key="copy/source.bin")["Body"].read() == SMALL

    def test_delete(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        matrix.oracle.put_object(Bucket=bucket, Key="delete/gone.bin", Body=SMALL)
        matrix.oracle.put_object(Bucket=bucket, Key="delete/stays.bin", Body=SMALL)
        drv.delete(bucket, "delete/gone.bin")
        listed = matrix.oracle.list_objects_v2(Bucket=bucket, Prefix="delete/")
        assert [o["Key"] for o in listed.get("Contents", [])] == ["delete/stays.bin"]

    def test_presigned_get(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        """The client's presigned URL as its users get it by default (SigV2 for botocore-based clients)."""
        matrix.oracle.put_object(Bucket=bucket, Key="presign/shared file.bin", Body=SMALL)
        try:
            url = drv.presign_get(bucket, "presign/shared file.bin")
        except Unsupported as exc:
            pytest.skip(str(exc))
        check_presigned(self.client, url, bucket, SMALL)

    def test_outside_grants_denied(self, drv: Driver, matrix: Matrix) -> None:
        text = drv.list_denied(matrix.forbidden_bucket)
        assert "AccessDenied" in text or "403" in text or "Access Denied" in text, text
