"""Master key rotation across restarts, `smarts3 admin sse rewrap`, and the key settings' start-up check."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server, server_output, start_subprocess_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_metadata]

K1 = "k1:" + base64.b64encode(os.urandom(32)).decode()
K2 = "k2:" + base64.b64encode(os.urandom(32)).decode()


def key_ids(data_dir: Path) -> dict[str, str]:
    """key -> id of the master key wrapping its data key, read from the stopped server's database."""
    with sqlite3.connect(data_dir / ".smarts3" / "meta.db") as db:
        rows = db.execute("SELECT key, meta FROM objects").fetchall()
    return {key.decode(): json.loads(json.loads(meta)["extra"]["sse"])["k"] for key, meta in rows}


def run(data_dir: Path, keys: str, fn: Any) -> str:
    proc, url = start_subprocess_server(data_dir, env={"SMARTS3_SSE_MASTER_KEY": keys})
    try:
        fn(Server(url, data_dir).client())
    finally:
        stop_server(proc)
    return server_output(proc)


def test_rotation_then_rewrap(tmp_path: Path) -> None:
    data = tmp_path / "data"

    def first(c: Any) -> None:
        c.create_bucket(Bucket="rot")
        c.put_object(Bucket="rot", Key="old", Body=b"old body", ServerSideEncryption="AES256")
        c.put_object(Bucket="rot", Key="old-kms", Body=b"old kms", ServerSideEncryption="aws:kms")

    run(data, K1, first)

    def second(c: Any) -> None:  # k2 added: old objects readable, new ones under k2
        assert c.get_object(Bucket="rot", Key="old")["Body"].read() == b"old body"
        c.put_object(Bucket="rot", Key="new", Body=b"new body", ServerSideEncryption="AES256")

    run(data, f"{K1},{K2}", second)
    assert key_ids(data) == {"old": "k1", "old-kms": "k1", "new": "k2"}

    def without_k1(c: Any) -> None:  # k1 dropped before re-wrapping: refused, never garbage
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as err:
            c.get_object(Bucket="rot", Key="old")
        assert err.value.response["Error"]["Code"] == "InternalError"
        assert c.get_object(Bucket="rot", Key="new")["Body"].read() == b"new body"

    assert "'k1' is not in the keyring" in run(data, K2, without_k1)

    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    rewrap = subprocess.run(
        [sys.executable, "-m", "smarts3", "admin", "sse", "rewrap", "--data-dir", str(data)],
        env={**env, "SMARTS3_SSE_MASTER_KEY": f"{K1},{K2}"}, capture_output=True, text=True, timeout=60,
    )
    assert rewrap.returncode == 0, rewrap.stderr
    assert "re-wrapped 2 data key(s) under master key 'k2'; 1 already current" in rewrap.stdout
    assert key_ids(data) == {"old": "k2", "old-kms": "k2", "new": "k2"}

    def after(c: Any) -> None:  # only k2 now: everything readable
        for key, body in (("old", b"old body"), ("old-kms", b"old kms"), ("new", b"new body")):
            assert c.get_object(Bucket="rot", Key=key)["Body"].read() == body

    run(data, K2, after)


def test_bad_key_settings_stop_the_server_before_it_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTS3_")}
    env.update(SMARTS3_ACCESS_KEY=ACCESS_KEY, SMARTS3_SECRET_KEY=SECRET_KEY,
               SMARTS3_SSE_MASTER_KEY="k1:" + base64.b64encode(b"short").decode())
    done = subprocess.run(
        [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "a key must be 32 bytes" in done.stderr and "Traceback" not in done.stderr
