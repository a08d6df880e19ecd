"""Abandoned multipart uploads are aborted by one worker's periodic sweep."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, server_output, start_subprocess_server


@pytest.mark.slow
def test_idle_uploads_are_aborted_with_two_workers(tmp_path: Path) -> None:
    env = {"SMARTS3_MULTIPART_EXPIRE_AFTER": "2", "SMARTS3_MULTIPART_SWEEP_INTERVAL": "0.5"}
    proc, url = start_subprocess_server(tmp_path / "data", "--workers", "2", env=env)
    try:
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        s3.create_bucket(Bucket="sweep")
        upload = s3.create_multipart_upload(Bucket="sweep", Key="abandoned")
        s3.upload_part(Bucket="sweep", Key="abandoned", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not s3.list_multipart_uploads(Bucket="sweep").get("Uploads"):
                break
            time.sleep(0.25)
        else:
            pytest.fail("idle upload was not aborted")
        assert not list((tmp_path / "data" / ".smarts3" / "tmp").iterdir())
        s3.delete_bucket(Bucket="sweep")  # no upload left behind
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        output = server_output(proc)
    assert output.count("aborted idle multipart upload") == 1
