"""A fresh `smarts3 serve` with no master key configured: the generated key is logged at INFO on
start, and the WARNING about what it does not protect comes only when an object is first encrypted
with it (once per process), not for plain objects or SSE-C."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import Server, server_output, start_subprocess_server, stop_server

WARNING = "an object is being encrypted with the master key generated into the data directory"


def output_with(proc: object, needle: str, deadline_s: float = 60.0) -> str:
    """The server's output once it contains `needle` (log lines reach the file asynchronously)."""
    deadline = time.monotonic() + deadline_s
    while True:
        text = server_output(proc)  # type: ignore[arg-type]
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_the_warning_waits_for_the_first_encrypted_object(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, url = start_subprocess_server(data, env={"SMARTS3_SSE_C_ALLOW_HTTP": "true"})
    try:
        c = Server(url, data).client()
        c.create_bucket(Bucket="quiet")
        c.put_object(Bucket="quiet", Key="plain", Body=b"not encrypted")
        # SSE-C wraps with the customer's key, not the generated one: no warning either.
        c.put_object(Bucket="quiet", Key="c", Body=b"customer key", SSECustomerAlgorithm="AES256",
                     SSECustomerKey=b"k" * 32)
        start = output_with(proc, "using the one generated into the data directory")
        assert "using the one generated into the data directory" in start
        assert (data / ".smarts3" / "sse-keys.json").is_file()
        assert not re.search(r"WARNING .*generated into the data directory", start), start
        c.put_object(Bucket="quiet", Key="s3", Body=b"x", ServerSideEncryption="AES256")
        c.put_object(Bucket="quiet", Key="s3-again", Body=b"y", ServerSideEncryption="AES256")
        c.put_object(Bucket="quiet", Key="kms", Body=b"z", ServerSideEncryption="aws:kms")
        after = output_with(proc, WARNING)
        warnings = re.findall(r"WARNING .*generated into the data directory", after)
        assert len(warnings) == 1 and WARNING in warnings[0], after
        assert c.get_object(Bucket="quiet", Key="s3")["Body"].read() == b"x"
    finally:
        stop_server(proc)
