"""A smarts3 for the clients' encryption tests: a keyring with the KMS key "app", and SSE-C allowed
over plain HTTP (encryption.allowSseCOverHttp, the development setting; AWS itself refuses it)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.clients.conftest import root_client
from tests.clients.support import Matrix
from tests.conftest import ACCESS_KEY, SECRET_KEY, start_subprocess_server, stop_server

KMS_ARN = "arn:aws:kms:us-east-1:000000000000:key/app"
CUSTOMER_KEY = bytes(range(32, 64))
CUSTOMER_KEY_B64 = base64.b64encode(CUSTOMER_KEY).decode()
CUSTOMER_KEY_MD5 = base64.b64encode(hashlib.md5(CUSTOMER_KEY).digest()).decode()


@contextmanager
def sse_matrix(base: Path) -> Iterator[Matrix]:
    """A Matrix (root credential) on a server that can encrypt every way."""
    keys = base / "keys.json"
    keys.write_text(json.dumps({
        "masterKeys": [{"id": "m1", "key": base64.b64encode(os.urandom(32)).decode()}],
        "kmsKeys": [{"id": "app", "key": base64.b64encode(os.urandom(32)).decode()}],
    }))
    env = {"SMARTS3_SSE_MASTER_KEYS_FILE": str(keys), "SMARTS3_SSE_C_ALLOW_HTTP": "true"}
    proc, url = start_subprocess_server(base / "data", "--fsync", "never", env=env)
    try:
        yield Matrix(url=url, access_key=ACCESS_KEY, secret_key=SECRET_KEY, oracle=root_client(url),
                     big_file=base / "unused", big_md5="", forbidden_bucket="")
    finally:
        stop_server(proc, timeout=20)
