"""One real smarts3 (a subprocess) for the whole client matrix, with a declared, restricted credential.

The declared file gives the matrix credential `readwrite` on `matrix-*` (one declared bucket per
client) and `admin` on `matrix-new-*` (the buckets clients create and delete), and nothing on
`vault-private`. Every client runs with that credential; the root credential is used only by the
oracle that checks what the clients did.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config as BotoConfig

from tests.clients.support import MULTIPART_SIZE, Matrix, skipping_system_clients
from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server, stop_server

CLIENTS = ("boto3", "awscli", "minio", "s3fs", "rclone", "s3cmd", "js")
MATRIX_KEY = "MATRIXCLIENTKEY00001"
MATRIX_SECRET = "matrix-secret-0123456789abcdefghijklmnop"
FORBIDDEN_BUCKET = "vault-private"


def declared_config() -> dict[str, Any]:
    return {
        "buckets": [{"name": Matrix.bucket_for(c)} for c in CLIENTS] + [{"name": FORBIDDEN_BUCKET}],
        "credentials": [
            {
                "name": "client-matrix",
                "accessKeyId": MATRIX_KEY,
                "secretAccessKey": MATRIX_SECRET,
                "grants": [
                    {"bucket": "matrix-*", "access": "readwrite"},
                    {"bucket": "matrix-new-*", "access": "admin"},
                ],
            }
        ],
    }


def root_client(url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1", config=BotoConfig(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    skipping_system_clients()  # fails every client test when CI asks to skip some of them
    base = tmp_path_factory.mktemp("client-matrix")
    big = base / "big.bin"
    big.write_bytes(os.urandom(MULTIPART_SIZE))
    big_md5 = hashlib.md5(big.read_bytes()).hexdigest()

    declared = base / "declared.yaml"
    declared.write_text(yaml.safe_dump(declared_config()))
    # fsync never: the matrix is about the protocol, not durability, and must stay quick.
    proc, url = start_subprocess_server(base / "data", "--declared", str(declared), "--fsync", "never")
    log = proc.log_path  # type: ignore[attr-defined]  # the fixture writes the output to a file
    try:
        oracle = root_client(url)
        # The declared buckets exist at start-up; the one outside the grants holds a secret.
        for name in [*(Matrix.bucket_for(c) for c in CLIENTS), FORBIDDEN_BUCKET]:
            oracle.head_bucket(Bucket=name)
        oracle.put_object(Bucket=FORBIDDEN_BUCKET, Key="secret.txt", Body=b"not for clients")
        yield Matrix(url=url, access_key=MATRIX_KEY, secret_key=MATRIX_SECRET, oracle=oracle,
                     big_file=big, big_md5=big_md5, forbidden_bucket=FORBIDDEN_BUCKET)
    finally:
        stop_server(proc, timeout=20)
        print(f"\n[client-matrix] server log: {log}")


# The matrix in the terminal summary: client, version, passed / failed / skipped operations.
_outcomes: dict[str, dict[str, str]] = {}
_versions: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if "tests/clients/test_" not in path and not path.startswith("clients/test_"):
        return
    client = Path(path).stem.removeprefix("test_")
    for name, value in report.user_properties:
        if name == "client_version":
            _versions[client] = str(value)
    test = report.nodeid.rsplit("::", 1)[-1].removeprefix("test_")
    if report.when == "call" or report.outcome != "passed":
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _outcomes.setdefault(client, {})[test] = outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _outcomes:
        return
    tr = terminalreporter
    tr.section("client matrix")
    for client, tests in _outcomes.items():
        passed = [t for t, o in tests.items() if o == "passed"]
        failed = [t for t, o in tests.items() if o == "failed"]
        skipped = [t for t, o in tests.items() if o == "skipped"]
        xfailed = [t for t, o in tests.items() if o == "xfailed"]
        line = f"{client:8} {_versions.get(client, '?'):80} {len(passed)} passed"
        if failed:
            line += f", FAILED: {', '.join(failed)}"
        if xfailed:
            line += f", expected to fail (see the test's reason): {', '.join(xfailed)}"
        if skipped:
            line += f", skipped: {', '.join(skipped)}"
        tr.write_line(line)
