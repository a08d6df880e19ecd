"""What a bucket policy's conditions may ask about a request: assembled once per request.

`RequestFacts` holds what the dispatcher knows before authorization (client address, TLS,
signature version, query and headers, time); `condition_values` turns it, the caller and the
object's current tags (fetched only when a policy asks) into IAM condition keys.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from smarts3.access.policy_conditions import normalise_key

# Request headers a policy sees as s3:<header name>.
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-content-sha256",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
)
_QUERY_KEYS = ("prefix", "delimiter", "max-keys", "versionid")
_SIGNATURE = {2: "AWS", 4: "AWS4-HMAC-SHA256"}


@dataclass(frozen=True, slots=True)
class RequestFacts:
    source_ip: str | None = None
    secure: bool = False
    signature_version: int = 0  # 0: anonymous
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    now: float = field(default_factory=time.time)


def condition_values(
    facts: RequestFacts,
    username: str | None,
    userid: str | None,
    existing_tags: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {
        "aws:securetransport": ["true" if facts.secure else "false"],
        "aws:currenttime": [dt.datetime.fromtimestamp(facts.now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:epochtime": [str(int(facts.now))],
        "aws:userid": [userid or "anonymous"],
        "aws:principaltype": ["Anonymous" if userid is None else "User"],
    }
    if facts.source_ip:
        out["aws:sourceip"] = [facts.source_ip]
    if username is not None:
        out["aws:username"] = [username]
    if facts.signature_version in _SIGNATURE:
        out["s3:signatureversion"] = [_SIGNATURE[facts.signature_version]]
    lowered_query = {k.lower(): v for k, v in facts.query.items()}
    for name in _QUERY_KEYS:
        if name in lowered_query:
            out["s3:" + name] = [lowered_query[name]]
    for name in _HEADER_KEYS:
        if name in facts.headers:
            out["s3:" + name] = [facts.headers[name]]
    tagging = facts.headers.get("x-amz-tagging")
    if tagging is not None:
        pairs = parse_qsl(tagging, keep_blank_values=True)
        out["s3:requestobjecttagkeys"] = [k for k, _ in pairs]
        for k, v in pairs:
            out[normalise_key("s3:RequestObjectTag/" + k)] = [v]
    for k, v in (existing_tags or {}).items():
        out[normalise_key("s3:ExistingObjectTag/" + k)] = [v]
    return out


class Lazy(Mapping[str, Sequence[str]]):
    """Condition values built on first use: most statements are decided before their conditions."""

    def __init__(self, build: Callable[[], dict[str, list[str]]]) -> None:
        self._build = build
        self._values: dict[str, list[str]] | None = None

    def _get(self) -> dict[str, list[str]]:
        if self._values is None:
            self._values = self._build()
        return self._values

    def __getitem__(self, key: str) -> Sequence[str]:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())
