"""The per-request context that the dispatcher hands to every handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from starlette.types import Receive

from smarts3.access.authorize import Authorizer, Decision
from smarts3.access.facts import RequestFacts
from smarts3.access.principals import Principal
from smarts3.auth.query import Query
from smarts3.auth.types import AuthResult
from smarts3.s3.errors import S3Error
from smarts3.s3.operations import Op
from smarts3.sse.policy import SsePolicy
from smarts3.storage.base import BucketInfo, Store


class ClientGone(Exception):
    """The client disconnected before the request body was complete."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_object_size: int = 5 * 1024**3
    max_part_size: int = 5 * 1024**3
    max_xml_bytes: int = 2 * 1024 * 1024
    max_header_bytes: int = 64 * 1024


@dataclass(slots=True)
class Ctx:
    request_id: str
    op: Op
    bucket: str | None
    key: str | None
    query: Query  # the request's one parsed query (auth.query), as the signature saw it
    headers: Mapping[str, str]
    auth: AuthResult
    principal: Principal | None  # None: an anonymous request that a public ACL allowed
    store: Store
    receive: Receive
    region: str
    limits: Limits
    owner_id: str
    access: Decision  # what authorization decided (handlers re-check public reads against it)
    sse: SsePolicy | None = None  # None: encryption at rest is not configured (NotImplemented)
    secure: bool = False  # the request came over TLS
    # Policy handlers read the server-wide public access block; PostObject authorizes its form here.
    authorizer: Authorizer | None = None
    facts: RequestFacts | None = None  # what a bucket policy's conditions see of the request
    _bucket_info: BucketInfo | None = field(default=None, init=False, repr=False)

    @property
    def bucket_name(self) -> str:
        if self.bucket is None:  # the classifier never routes bucket ops without one
            raise S3Error("InvalidRequest", "A bucket is required.")
        return self.bucket

    async def bucket_info(self) -> BucketInfo:
        """The request's bucket, read once per request: the handler's helpers share the read."""
        if self._bucket_info is None:
            self._bucket_info = await self.store.get_bucket(self.bucket_name)
        return self._bucket_info

    def decide_on(self, bucket: BucketInfo | None) -> None:
        """Make bucket_info() answer `bucket` (None: read the bucket again at the next call)."""
        self._bucket_info = bucket

    @property
    def key_name(self) -> str:
        if self.key is None:
            raise S3Error("InvalidRequest", "A key is required.")
        return self.key

    async def raw_body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives, raising ClientGone on disconnect."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
