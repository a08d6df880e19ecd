"""s3fs (fsspec over aiobotocore) in the client matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.support import MIB, SMALL, ClientSuite, Driver, Matrix, check_presigned, missing


class S3fsDriver(Driver):
    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        try:
            import s3fs
        except ImportError:
            missing("s3fs is not installed (pip install s3fs)")
        self.s3fs: Any = s3fs
        self.fs = s3fs.S3FileSystem(
            key=matrix.access_key, secret=matrix.secret_key, endpoint_url=matrix.url,
            client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True, use_listings_cache=False,
        )

    def version(self) -> str:
        import aiobotocore
        import fsspec

        return f"s3fs {self.s3fs.__version__} (fsspec {fsspec.__version__}, aiobotocore {aiobotocore.__version__})"

    def make_bucket(self, bucket: str) -> None:
        self.fs.mkdir(bucket)

    def remove_bucket(self, bucket: str) -> None:
        self.fs.rm(bucket, recursive=True)  # DeleteObjects, then DeleteBucket
        if self.fs.exists(bucket):
            self.fs.rmdir(bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{bucket}/{key}", data)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.fs.cat_file(f"{bucket}/{key}"))

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        # fsspec ranges are Python slices: end exclusive.
        return bytes(self.fs.cat_file(f"{bucket}/{key}", start=start, end=None if end is None else end + 1))

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        assert delimiter == "/", "s3fs lists directories with delimiter '/'"
        keys: set[str] = set()
        prefixes: set[str] = set()
        for entry in self.fs.ls(f"{bucket}/{prefix}", detail=True, refresh=True):
            name = entry["name"].removeprefix(f"{bucket}/")
            if entry["type"] == "directory":
                prefixes.add(name.rstrip("/") + "/")
            else:
                keys.add(name)
        return keys, prefixes

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        # s3fs streams a file opened for writing in block_size parts (a multipart upload).
        with self.fs.open(f"{bucket}/{key}", "wb", block_size=8 * MIB) as out, path.open("rb") as src:
            while chunk := src.read(3 * MIB):
                out.write(chunk)

    def copy(self, bucket: str, source: str, dest: str) -> None:
        self.fs.copy(f"{bucket}/{source}", f"{bucket}/{dest}")

    def delete(self, bucket: str, key: str) -> None:
        self.fs.rm_file(f"{bucket}/{key}")

    def presign_get(self, bucket: str, key: str) -> str:
        return str(self.fs.url(f"{bucket}/{key}", expires=300))

    def list_denied(self, bucket: str) -> str:
        with pytest.raises(PermissionError) as info:
            self.fs.ls(bucket, refresh=True)
        return str(info.value)


class TestS3fs(ClientSuite):
    client = "s3fs"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return S3fsDriver(matrix, work)

    def test_presigned_get_sigv4(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        """s3fs presigns through botocore: SigV2 unless config_kwargs sets signature_version='s3v4'."""
        assert isinstance(drv, S3fsDriver)
        matrix.oracle.put_object(Bucket=bucket, Key="presign/v4 file.bin", Body=SMALL)
        fs = drv.s3fs.S3FileSystem(
            key=matrix.access_key, secret=matrix.secret_key, endpoint_url=matrix.url,
            client_kwargs={"region_name": "us-east-1"}, config_kwargs={"signature_version": "s3v4"},
            skip_instance_cache=True,
        )
        url = str(fs.url(f"{bucket}/presign/v4 file.bin", expires=300))
        assert "X-Amz-Signature=" in url
        check_presigned(self.client, url, bucket, SMALL)
