"""The operator's output, fed to a real smarts3 server: the generated key works for its
bucket and nowhere else. Skips until ``smarts3 serve`` takes ``--declared``."""

from __future__ import annotations

import base64
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.operator.support import CONFIG_NAMESPACE, CONFIG_SECRET, Api, wait_for

pytestmark = pytest.mark.usefixtures("operator")


def _serve_supports_declared() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "smarts3", "serve", "--help"], capture_output=True, text=True, check=False
    )
    return "--declared" in proc.stdout


@pytest.fixture
def declared_server(tmp_path: pathlib.Path) -> Iterator[tuple[pathlib.Path, str]]:
    if not _serve_supports_declared():
        pytest.skip("`smarts3 serve` has no --declared option yet (server side of issue 6)")
    from tests.conftest import start_subprocess_server

    declared = tmp_path / "declared.yaml"
    declared.write_text("buckets: []\ncredentials: []\n")
    proc, url = start_subprocess_server(tmp_path / "data", "--declared", str(declared))
    try:
        yield declared, url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _client(url: str, data: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=data["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=data["AWS_SECRET_ACCESS_KEY"],
        region_name=data["AWS_REGION"],
        config=Config(retries={"max_attempts": 1}),
    )


def test_generated_credential_works_on_its_bucket_only(
    api: Api, namespace: str, declared_server: tuple[pathlib.Path, str]
) -> None:
    from botocore.exceptions import ClientError

    declared, url = declared_server
    api.create("s3buckets", namespace, "mine-srv", {})
    api.create("s3buckets", namespace, "theirs-srv", {})
    api.create(
        "s3credentials",
        namespace,
        "srv",
        {"secretName": "srv-s3", "buckets": [{"name": "mine-srv", "access": "readwrite"}]},
    )
    secret = wait_for(lambda: api.secret(namespace, "srv-s3"), what="the app Secret")
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}

    def written() -> bool:
        text = base64.b64decode(api.secret(CONFIG_NAMESPACE, CONFIG_SECRET).data["declared.yaml"]).decode()
        return data["AWS_ACCESS_KEY_ID"] in text and "theirs-srv" in text

    wait_for(written, what="the declared config with the key and both buckets")
    # What the kubelet does for the server pod: the mounted Secret key becomes the file.
    tmp = declared.with_suffix(".new")
    tmp.write_bytes(base64.b64decode(api.secret(CONFIG_NAMESPACE, CONFIG_SECRET).data["declared.yaml"]))
    os.replace(tmp, declared)

    s3 = _client(url, data)

    def accepted() -> bool:
        try:
            s3.put_object(Bucket=data["BUCKET_NAME"], Key="hello.txt", Body=b"hi")
            return True
        except ClientError:
            return False

    wait_for(accepted, timeout=30, what="the server to accept the generated key")
    assert s3.get_object(Bucket="mine-srv", Key="hello.txt")["Body"].read() == b"hi"
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="theirs-srv", Key="hello.txt", Body=b"no")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
