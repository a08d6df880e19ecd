"""boto3 (and botocore) in the client matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.clients.support import MIB, SMALL, ClientSuite, Driver, Matrix, check_presigned


class Boto3Driver(Driver):
    def __init__(self, matrix: Matrix, work: Path) -> None:
        super().__init__(matrix, work)
        self.s3: Any = boto3.client(
            "s3", endpoint_url=matrix.url, aws_access_key_id=matrix.access_key,
            aws_secret_access_key=matrix.secret_key, region_name="us-east-1",
            config=BotoConfig(retries={"total_max_attempts": 1}),
        )

    def version(self) -> str:
        return f"boto3 {boto3.__version__} (botocore {botocore.__version__})"

    def make_bucket(self, bucket: str) -> None:
        self.s3.create_bucket(Bucket=bucket)

    def remove_bucket(self, bucket: str) -> None:
        b = boto3.resource("s3", endpoint_url=self.matrix.url, aws_access_key_id=self.matrix.access_key,
                           aws_secret_access_key=self.matrix.secret_key, region_name="us-east-1").Bucket(bucket)
        b.objects.all().delete()  # DeleteObjects
        b.delete()

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def get_range(self, bucket: str, key: str, start: int, end: int | None) -> bytes:
        spec = f"bytes={start}-{'' if end is None else end}"
        response = self.s3.get_object(Bucket=bucket, Key=key, Range=spec)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 206
        return bytes(response["Body"].read())

    def list(self, bucket: str, prefix: str, delimiter: str) -> tuple[set[str], set[str]]:
        keys: set[str] = set()
        prefixes: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix,
                                                                      Delimiter=delimiter):
            keys |= {o["Key"] for o in page.get("Contents", [])}
            prefixes |= {p["Prefix"] for p in page.get("CommonPrefixes", [])}
        return keys, prefixes

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
        self.s3.upload_file(str(path), bucket, key, Config=config)

    def copy(self, bucket: str, source: str, dest: str) -> None:
        self.s3.copy_object(Bucket=bucket, Key=dest, CopySource={"Bucket": bucket, "Key": source})

    def delete(self, bucket: str, key: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=key)

    def presign_get(self, bucket: str, key: str) -> str:
        return str(self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                  ExpiresIn=300))

    def list_denied(self, bucket: str) -> str:
        with pytest.raises(ClientError) as info:
            self.s3.list_objects_v2(Bucket=bucket)
        return str(info.value)


class TestBoto3(ClientSuite):
    client = "boto3"

    def make_driver(self, matrix: Matrix, work: Path) -> Driver:
        return Boto3Driver(matrix, work)

    def test_presigned_get_sigv4(self, drv: Driver, matrix: Matrix, bucket: str) -> None:
        """botocore presigns S3 with SigV2 unless signature_version='s3v4' is configured."""
        matrix.oracle.put_object(Bucket=bucket, Key="presign/v4 file.bin", Body=SMALL)
        s3 = boto3.client("s3", endpoint_url=matrix.url, aws_access_key_id=matrix.access_key,
                          aws_secret_access_key=matrix.secret_key, region_name="us-east-1",
                          config=BotoConfig(signature_version="s3v4"))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presign/v4 file.bin"},
                                        ExpiresIn=300)
        assert "X-Amz-Signature=" in url
        check_presigned(self.client, url, bucket, SMALL)

    def test_create_bucket_needs_admin(self, drv: Driver, matrix: Matrix) -> None:
        """`readwrite` on matrix-* does not create buckets; only the `admin` glob matrix-new-* does."""
        assert isinstance(drv, Boto3Driver)
        with pytest.raises(ClientError) as info:
            drv.s3.create_bucket(Bucket="matrix-not-admin")
        assert info.value.response["Error"]["Code"] == "AccessDenied"
