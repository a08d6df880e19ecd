"""Bodies stream: server memory stays flat while a 1 GiB object goes in and out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server
from tests.integration.helpers import PeakRss

SIZE = 1024**3
CHUNK = bytes(range(256)) * 4096  # 1 MiB


@pytest.mark.slow
def test_one_gib_put_and_get_keep_memory_flat(tmp_path: Path) -> None:
    proc, url = start_subprocess_server(tmp_path / "data", "--fsync", "never")
    try:
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        s3.create_bucket(Bucket="big")
        s3.put_object(Bucket="big", Key="warm", Body=b"x" * 1024)  # warm up imports and pools
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "big", "Key": "gib"})
        expected = hashlib.md5()

        def body() -> Iterator[bytes]:
            for _ in range(SIZE // len(CHUNK)):
                expected.update(CHUNK)
                yield CHUNK

        with PeakRss(proc.pid) as put_rss:
            response = httpx.put(put_url, content=body(), headers={"Content-Length": str(SIZE)}, timeout=300)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{expected.hexdigest()}"'

        got = hashlib.md5()
        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": "gib"})
        with PeakRss(proc.pid) as get_rss, httpx.stream("GET", get_url, timeout=300) as stream:
            for chunk in stream.iter_bytes(1024 * 1024):
                got.update(chunk)
        assert got.hexdigest() == expected.hexdigest()
        for label, sample in (("PUT", put_rss), ("GET", get_rss)):
            growth = sample.peak - sample.baseline
            print(f"{label} 1 GiB: RSS growth {growth / 2**20:.1f} MiB")
            assert growth < 64 * 2**20, f"{label} grew RSS by {growth / 2**20:.1f} MiB"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
