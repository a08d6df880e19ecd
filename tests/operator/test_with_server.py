"""The operator's output, fed to a real smarts3 server: the generated key works for its
bucket and nowhere else. Skips until ``smarts3 serve`` takes ``--declared``."""

from __future__ import annotations

import base64
import os
import pathlib
import subprocess
import sys
import threading
import time
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

    wait_for(accepted, what="the server to accept the generated key")
    assert s3.get_object(Bucket="mine-srv", Key="hello.txt")["Body"].read() == b"hi"

    def refusal() -> str:
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="theirs-srv", Key="hello.txt", Body=b"no")
        code: str = refused.value.response["Error"]["Code"]
        return "" if code == "NoSuchBucket" else code  # the reload may still be creating that bucket

    # A bucket that exists but is not granted: AccessDenied (a missing one is NoSuchBucket, as AWS).
    assert wait_for(refusal, what="theirs-srv to exist") == "AccessDenied"


class Kubelet(threading.Thread):
    """A stand-in kubelet: copies the config Secret into the server's declared file on every
    change (atomically, as the kubelet swaps its symlink), and remembers when each text landed."""

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.writes: list[tuple[float, str]] = []

    def run(self) -> None:
        api = Api()
        last = None
        while not self.stop.wait(0.1):
            secret = api.secret(CONFIG_NAMESPACE, CONFIG_SECRET)
            data = (secret.data or {}).get("declared.yaml") if secret is not None else None
            if data and data != last:
                text = base64.b64decode(data).decode()
                tmp = self.path.with_suffix(".new")
                tmp.write_text(text)
                os.replace(tmp, self.path)
                self.writes.append((time.monotonic(), text))
                last = data

    def landed(self, fragment: str) -> float | None:
        """When a declared file holding ``fragment`` was first written."""
        return next((at for at, text in self.writes if fragment in text), None)


class Traffic(threading.Thread):
    """An application's PUT loop with one key; every refused request is counted."""

    def __init__(self, url: str, data: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.s3 = _client(url, data)
        self.bucket = data["BUCKET_NAME"]
        self.stop = threading.Event()
        self.ok: list[float] = []
        self.failed: list[str] = []

    def run(self) -> None:
        from botocore.exceptions import ClientError

        n = 0
        # Paced like an application, not a benchmark: the operator shares this process (and the GIL).
        while not self.stop.wait(0.02):
            n += 1
            try:
                self.s3.put_object(Bucket=self.bucket, Key=f"loop/{n}", Body=b"x")
                self.ok.append(time.monotonic())
            except ClientError as exc:
                self.failed.append(exc.response["Error"]["Code"])


def _puts(url: str, data: dict[str, str]) -> str | None:
    """None if a PUT with these keys works, else the error code."""
    from botocore.exceptions import ClientError

    try:
        _client(url, data).put_object(Bucket=data["BUCKET_NAME"], Key="probe", Body=b"p")
        return None
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])


def test_rotation_under_traffic_has_no_failures_and_revokes_the_old_key_on_time(
    api: Api, namespace: str, declared_server: tuple[pathlib.Path, str]
) -> None:
    declared, url = declared_server
    kubelet = Kubelet(declared)
    kubelet.start()
    try:
        api.create("s3buckets", namespace, "rot-srv", {})
        api.create(
            "s3credentials",
            namespace,
            "rot-srv",
            {
                "secretName": "rot-srv-s3",
                "buckets": [{"name": "rot-srv", "access": "readwrite"}],
                # Long enough to cover the new key's way to the server on a loaded CI host.
                "previousKeyTTL": "20s",
            },
        )
        secret = wait_for(lambda: api.secret(namespace, "rot-srv-s3"), what="the app Secret")
        old = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
        wait_for(lambda: _puts(url, old) is None, what="the server to accept the first key")

        traffic = Traffic(url, old)
        traffic.start()
        wait_for(lambda: len(traffic.ok) >= 5, what="traffic with the old key")
        api.patch("s3credentials", namespace, "rot-srv", {"metadata": {"annotations": {"smarts3.io/rotate": "1"}}})

        def rotated() -> dict[str, str] | None:
            data = {k: base64.b64decode(v).decode() for k, v in api.secret(namespace, "rot-srv-s3").data.items()}
            return data if data["AWS_ACCESS_KEY_ID"] != old["AWS_ACCESS_KEY_ID"] else None

        new = wait_for(rotated, what="the rotated key in the app Secret")
        assert new["PREVIOUS_AWS_ACCESS_KEY_ID"] == old["AWS_ACCESS_KEY_ID"]
        # The stand-in kubelet copies the config Secret on its own schedule: wait for it, not assume it.
        wait_for(lambda: kubelet.landed(new["AWS_ACCESS_KEY_ID"]), what="the new key in the declared file")
        wait_for(lambda: _puts(url, new) is None, what="the server to accept the new key")
        both = time.monotonic()
        # The server runs the new configuration (both keys) and the old key keeps working.
        wait_for(lambda: any(at > both for at in traffic.ok), what="old-key traffic once the new key works")
        traffic.stop.set()
        traffic.join(timeout=10)
        assert traffic.failed == []

        # After the 20 s overlap the timer drops the old key: the server refuses it, the new one works.
        wait_for(lambda: _puts(url, old) == "InvalidAccessKeyId", timeout=90, what="the old key to be refused")
        status = wait_for(
            lambda: (
                "previousKeyExpiresAt" not in (st := api.get("s3credentials", namespace, "rot-srv")["status"]) and st
            ),
            what="the status without the previous key",
        )
        assert status["accessKeyId"] == new["AWS_ACCESS_KEY_ID"] and "previousAccessKeyId" not in status
        assert _puts(url, new) is None
        final = {k: base64.b64decode(v).decode() for k, v in api.secret(namespace, "rot-srv-s3").data.items()}
        assert "PREVIOUS_AWS_ACCESS_KEY_ID" not in final and final["AWS_ACCESS_KEY_ID"] == new["AWS_ACCESS_KEY_ID"]
    finally:
        kubelet.stop.set()
        kubelet.join(timeout=10)
