"""`smarts3 admin` as a user runs it: a subprocess against a live server, or on a stopped data dir."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig

from smarts3.rootcred import load_or_create
from smarts3.storage.fs import system_dir
from tests.conftest import ACCESS_KEY, SECRET_KEY, free_port, start_subprocess_server

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_metadata]


def admin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Only what the test gives: a developer's own SMARTS3_* must not leak in.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    return subprocess.run(
        [sys.executable, "-m", "smarts3", "admin", *args],
        env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60,
    )


def one_line_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("smarts3 admin: ")
    for needle in needles:
        assert needle in line


def test_buckets_and_usage_against_a_live_server(tmp_path: Path) -> None:
    ops_port = free_port()
    proc, url = start_subprocess_server(tmp_path / "data", "--metrics-port", str(ops_port))
    # The same settings the server reads: keys and ports from SMARTS3_*, no flags.
    env = {"SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY,
           "SMARTS3_PORT": url.rsplit(":", 1)[1], "SMARTS3_METRICS_PORT": str(ops_port)}
    try:
        created = admin("buckets", "create", "admin-made", env=env)
        assert created.returncode == 0, created.stderr
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name="us-east-1", config=BotoConfig(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="empty-one")
        s3.put_object(Bucket="admin-made", Key="a", Body=b"12345")
        s3.put_object(Bucket="admin-made", Key="b", Body=b"678")

        listed = admin("buckets", "list", env=env)
        assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["admin-made", "empty-one"]

        usage = admin("usage", env=env)
        assert usage.returncode == 0, usage.stderr
        rows = {line.split()[0]: line.split()[1:] for line in usage.stdout.splitlines()[1:]}
        assert rows == {"admin-made": ["2", "8"], "empty-one": ["0", "0"], "total": ["2", "8"]}
        # --metrics-url and --endpoint stand in for the settings.
        flags = ("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
        assert admin("usage", "--metrics-url", f"http://127.0.0.1:{ops_port}", *flags).stdout == usage.stdout
        assert admin("buckets", "list", "--endpoint", url, *flags).stdout == listed.stdout

        one_line_failure(admin("buckets", "delete", "admin-made", env=env), "BucketNotEmpty")
        one_line_failure(admin("buckets", "create", "admin-made", env=env), "BucketAlreadyOwnedByYou")
        wrong = {**env, "SMARTS3_SECRET_KEY": "not-the-secret-key-0123456789"}
        one_line_failure(admin("buckets", "list", env=wrong), "SignatureDoesNotMatch")
        s3.delete_objects(Bucket="admin-made", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
        deleted = admin("buckets", "delete", "admin-made", env=env)
        assert (deleted.returncode, deleted.stdout) == (0, "deleted bucket admin-made\n")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["empty-one"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    one_line_failure(admin("buckets", "list", env=env), "cannot reach", url)


def test_show_root_names_the_source_and_hides_the_secret(tmp_path: Path) -> None:
    generated = load_or_create(system_dir(tmp_path))
    shown = admin("credentials", "show-root", "--data-dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        f"access key id: {generated.access_key}",
        f"source:        {(system_dir(tmp_path) / 'root-credentials.json').resolve()}",
    ]
    assert generated.secret_key not in shown.stdout
    secret = admin("credentials", "show-root", "--data-dir", str(tmp_path), "--show-secret").stdout
    assert f"secret key:    {generated.secret_key}" in secret.splitlines()
    # The settings win over the file, as they do for the server.
    env = {"SMARTS3_ACCESS_KEY": ACCESS_KEY, "SMARTS3_SECRET_KEY": SECRET_KEY}
    from_env = admin("credentials", "show-root", "--data-dir", str(tmp_path), env=env).stdout
    assert from_env.startswith(f"access key id: {ACCESS_KEY}\nsource:        settings (SMARTS3_ACCESS_KEY")
    one_line_failure(admin("credentials", "show-root", "--data-dir", str(tmp_path / "none")), "no root key")


def _body_of(data_dir: Path, bucket: str, key: str) -> Path:
    conn = sqlite3.connect(system_dir(data_dir) / "meta.db")
    try:
        (segments,) = conn.execute("SELECT segments FROM objects WHERE bucket = ? AND key = ?",
                                   (bucket, key.encode())).fetchone()
    finally:
        conn.close()
    ((body_id, _),) = json.loads(segments)
    return system_dir(data_dir) / "bodies" / body_id[:2] / body_id


def test_fsck_reports_and_repairs_a_stopped_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Bodies in files (inline bodies off): the test breaks them. test_fs_inline.py: fsck of inline rows.
    proc, url = start_subprocess_server(data, env={"SMARTS3_INLINE_MAX_BYTES": "0"})
    try:
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name="us-east-1", config=BotoConfig(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="fsck")
        s3.put_object(Bucket="fsck", Key="kept", Body=b"kept")
        s3.put_object(Bucket="fsck", Key="lost/one", Body=b"lost")
        # The server owns the directory: fsck refuses rather than race its writes.
        one_line_failure(admin("fsck", "--data-dir", str(data)), "needs a stopped server", f"pid {proc.pid}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    clean = admin("fsck", "--data-dir", str(data))
    assert (clean.returncode, clean.stdout) == (
        0, f"{data}: 0 orphan body file(s), 0 temp file(s), 0 missing body file(s)\n")

    kept, lost = _body_of(data, "fsck", "kept"), _body_of(data, "fsck", "lost/one")
    lost.unlink()
    orphan = system_dir(data) / "bodies" / "ab" / ("ab" + "0" * 30)
    orphan.write_bytes(b"never committed")
    temp = system_dir(data) / "tmp" / ("c" * 32)
    temp.write_bytes(b"half written")

    report = admin("fsck", "--data-dir", str(data))
    assert report.returncode == 1, report.stderr
    assert report.stdout.splitlines() == [
        f"orphan body file: {orphan}",
        f"leftover temp file: {temp}",
        f"missing body: object fsck/lost/one (body {lost.name})",
        f"{data}: 1 orphan body file(s), 1 temp file(s), 1 missing body file(s) (cannot be repaired)",
    ]
    assert orphan.exists() and temp.exists()  # reporting changes nothing

    repaired = admin("fsck", "--data-dir", str(data), "--repair")
    assert "repaired: removed 1 orphan(s), 1 temp file(s)" in repaired.stdout.splitlines()
    assert repaired.returncode == 1  # the missing body remains
    assert not orphan.exists() and not temp.exists() and kept.read_bytes() == b"kept"
    again = admin("fsck", "--data-dir", str(data))
    assert again.stdout.splitlines()[-1].startswith(f"{data}: 0 orphan body file(s), 0 temp file(s), 1 missing")

    one_line_failure(admin("fsck", "--data-dir", str(tmp_path / "nothing")), "not a smarts3 data directory")
    assert not (tmp_path / "nothing").exists()
