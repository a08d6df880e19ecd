"""The server's encryption settings as handlers see them."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from smarts3.sse.keys import Keyring

ACCOUNT = "000000000000"  # the account id in the KMS key ARNs answered (smarts3 has one account)

log = logging.getLogger("smarts3.sse")


@dataclass(frozen=True, slots=True)
class SsePolicy:
    keyring: Keyring
    # Every write without encryption headers or bucket default gets SSE-S3.
    force: bool = False
    # SSE-C over plain HTTP (AWS refuses it: the key would cross the network in clear).
    allow_http_sse_c: bool = False
    _generated_used: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def kms_arn(self, region: str, name: str) -> str:
        if not name:
            return f"arn:aws:kms:{region}:{ACCOUNT}:alias/aws/s3"
        return f"arn:aws:kms:{region}:{ACCOUNT}:key/{name}"

    def master_key_used(self) -> None:
        """A master key just wrapped a new data key: the first time in this process that the key
        is one generated into the data directory, say (once) what that does not protect against.
        A server nobody asks to encrypt stays quiet (start-up logs it at INFO only)."""
        if self.keyring.generated and not self._generated_used.is_set():
            self._generated_used.set()
            log.warning(
                "encryption at rest: an object is being encrypted with the master key generated into the data "
                "directory; it protects copied body files, not a copied data directory (set "
                "encryption.masterKeysFile or SMARTS3_SSE_MASTER_KEY)"
            )
