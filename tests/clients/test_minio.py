"""minio-py in the client matrix."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.clients.support import MIB, ClientSuite, Driver, Matrix, missing


class MinioDriver(Driver):
    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        try:
            import minio
        except ImportError:
            missing("minio (minio-py) is not installed (pip install minio)")
        self.minio: Any = minio
        # No region: minio-py asks GetBucketLocation first, as it does for its users by default.
        self.mc = minio.Minio(matrix.host_port, access_key=matrix.access_key, secret_key=matrix.secret_key,
                              secure=False)

    def version(self) -> str:
        return f"minio-py {self.minio.__version__}"

    def make_bucket(self, bucket: str) -> None:
        self.mc.make_bucket(bucket)

    def remove_bucket(self, bucket: str) -> None:
        from minio.deleteobjects import DeleteObject

        names = [DeleteObject(o.object_name) for o in self.mc.list_objects(bucket, recursive=True)]
        errors = list(self.mc.remove_objects(bucket, names))  # DeleteObjects
        assert not errors, errors
        self.mc.remove_bucket(bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.mc.put_object(bucket, key, io.BytesIO(data), len(data))

    def get(self, bucket: str, key: str) -> bytes:
        response = self.mc.get_object(bucket, key)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        length = 0 if end is None else end - start + 1
        response = self.mc.get_object(bucket, key, offset=start, length=length)
        try:
            assert response.status == 206
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        assert delimiter == "/", "minio-py lists with delimiter '/' unless recursive"
        keys: set[str] = set()
        prefixes: set[str] = set()
        for obj in self.mc.list_objects(bucket, prefix=prefix, recursive=False):
            (prefixes if obj.is_dir else keys).add(obj.object_name)
        return keys, prefixes

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        self.mc.fput_object(bucket, key, str(path), part_size=8 * MIB)

    def copy(self, bucket: str, source: str, dest: str) -> None:
        from minio.commonconfig import CopySource

        self.mc.copy_object(bucket, dest, CopySource(bucket, source))

    def delete(self, bucket: str, key: str) -> None:
        self.mc.remove_object(bucket, key)

    def presign_get(self, bucket: str, key: str) -> str:
        from datetime import timedelta

        return str(self.mc.presigned_get_object(bucket, key, expires=timedelta(minutes=5)))

    def list_denied(self, bucket: str) -> str:
        with pytest.raises(self.minio.error.S3Error) as info:
            list(self.mc.list_objects(bucket))
        return f"{info.value.code}: {info.value}"


class TestMinio(ClientSuite):
    client = "minio"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return MinioDriver(matrix, work)
