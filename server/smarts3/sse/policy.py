"""The server's encryption settings as handlers see them."""

from __future__ import annotations

from dataclasses import dataclass

from smarts3.sse.keys import Keyring

ACCOUNT = "000000000000"  # the account id in the KMS key ARNs answered (smarts3 has one account)


@dataclass(frozen=True, slots=True)
class SsePolicy:
    keyring: Keyring
    # Every write without encryption headers or bucket default gets SSE-S3.
    force: bool = False
    # SSE-C over plain HTTP (AWS refuses it: the key would cross the network in clear).
    allow_http_sse_c: bool = False

    def kms_arn(self, region: str, name: str) -> str:
        if not name:
            return f"arn:aws:kms:{region}:{ACCOUNT}:alias/aws/s3"
        return f"arn:aws:kms:{region}:{ACCOUNT}:key/{name}"
