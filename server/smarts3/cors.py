"""CORS policy evaluation as Amazon S3 does it: pure functions, no I/O, no HTTP framework.

A rule set is an ordered tuple of rules. The first rule that allows the
request's origin, its method and (on a preflight) every requested header
decides the answer; no rule means no CORS headers at all.

S3's matching, from the S3 user guide ("How does Amazon S3 evaluate the CORS
configuration on a bucket?") and the behaviour other S3 implementations
observed against it:

- origins compare as text, case-sensitively; a pattern may contain `*`, which
  matches any run of characters (S3 accepts at most one per pattern);
- methods compare exactly (GET, PUT, POST, DELETE, HEAD; `get` is no method);
- requested headers compare case-insensitively against AllowedHeader
  patterns, and every one of them must be allowed by the same rule;
- a rule whose AllowedOrigin list holds the literal `*` answers
  `Access-Control-Allow-Origin: *` without credentials; any other match echoes
  the origin and adds `Access-Control-Allow-Credentials: true`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smarts3.config.declared import CorsRule

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
# S3 sends the same Vary on preflight and actual responses: the answer depends on all three.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@dataclass(frozen=True, slots=True)
class Rule:
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None


Rules = tuple[Rule, ...]


def wildcard_match(pattern: str, value: str) -> bool:
    """`*` in `pattern` matches any run of characters (possibly empty); the rest is literal."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == value
    first, *middle, last = parts
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    pos, end = len(first), len(value) - len(last)
    for part in middle:  # leftmost placement is always safe when the only metacharacter is `*`
        found = value.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def parse_request_headers(value: str | None) -> tuple[str, ...]:
    """Access-Control-Request-Headers as lower-case names; empty items are dropped."""
    if not value:
        return ()
    return tuple(name for name in (item.strip().lower() for item in value.split(",")) if name)


def _allows_origin(rule: Rule, origin: str) -> bool:
    return any(wildcard_match(pattern, origin) for pattern in rule.allowed_origins)


def _allows_header(rule: Rule, name: str) -> bool:
    name = name.strip().lower()
    return any(wildcard_match(pattern.lower(), name) for pattern in rule.allowed_headers)


def match(rules: Sequence[Rule], origin: str, method: str, request_headers: Iterable[str] = ()) -> Rule | None:
    """The first rule allowing `origin`, `method` and every requested header, or None."""
    wanted = tuple(request_headers)
    for rule in rules:
        if (
            method in rule.allowed_methods
            and _allows_origin(rule, origin)
            and all(_allows_header(rule, name) for name in wanted)
        ):
            return rule
    return None


def allow_origin(rule: Rule, origin: str) -> str:
    return "*" if "*" in rule.allowed_origins else origin


def response_headers(rule: Rule, origin: str, request_headers: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The headers S3 sends for a matched rule, in S3's order (lower-case names).

    `request_headers` is given on a preflight only: S3 then echoes them in
    Access-Control-Allow-Headers (lower case); an actual request never gets that header.
    """
    allowed = allow_origin(rule, origin)
    headers = [
        ("access-control-allow-origin", allowed),
        ("access-control-allow-methods", ", ".join(rule.allowed_methods)),
    ]
    if request_headers:
        headers.append(("access-control-allow-headers", ", ".join(h.lower() for h in request_headers)))
    if rule.expose_headers:
        headers.append(("access-control-expose-headers", ", ".join(rule.expose_headers)))
    if rule.max_age_seconds is not None:
        headers.append(("access-control-max-age", str(rule.max_age_seconds)))
    if allowed != "*":
        headers.append(("access-control-allow-credentials", "true"))
    headers.append(("vary", VARY))
    return headers


def rule_problem(rule: Rule) -> str | None:
    """Why S3 would refuse the rule (its InvalidRequest message), checked in S3's order."""
    for method in rule.allowed_methods:
        if method not in METHODS:
            return f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
    for origin in rule.allowed_origins:
        if origin.count("*") > 1:
            return f'AllowedOrigin "{origin}" can not have more than one wildcard.'
    for header in rule.allowed_headers:
        if header.count("*") > 1:
            return f'AllowedHeader "{header}" can not have more than one wildcard.'
    for header in rule.expose_headers:
        if "*" in header:
            return f'ExposeHeader "{header}" contains wildcard. We currently do not support wildcard for ExposeHeader.'
    return None


def from_declared(rules: Iterable[CorsRule]) -> Rules:
    """Rules from the declared file or the settings (already validated by pydantic)."""
    return tuple(
        Rule(
            allowed_origins=tuple(r.allowed_origins),
            allowed_methods=tuple(r.allowed_methods),
            allowed_headers=tuple(r.allowed_headers),
            expose_headers=tuple(r.expose_headers),
            max_age_seconds=r.max_age_seconds,
            id=r.id,
        )
        for r in rules
    )


def dumps(rules: Sequence[Rule]) -> str:
    """A rule set as compact JSON (how a bucket stores its configuration)."""
    items = []
    for r in rules:
        item: dict[str, object] = {"origins": list(r.allowed_origins), "methods": list(r.allowed_methods)}
        if r.allowed_headers:
            item["headers"] = list(r.allowed_headers)
        if r.expose_headers:
            item["expose"] = list(r.expose_headers)
        if r.max_age_seconds is not None:
            item["maxAge"] = r.max_age_seconds
        if r.id is not None:
            item["id"] = r.id
        items.append(item)
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Rules:
    """The inverse of dumps; ValueError for anything else."""
    try:
        items = json.loads(text)
        if not isinstance(items, list):
            raise TypeError("a list of rules expected")
        return tuple(
            Rule(
                allowed_origins=tuple(str(o) for o in item["origins"]),
                allowed_methods=tuple(str(m) for m in item["methods"]),
                allowed_headers=tuple(str(h) for h in item.get("headers", ())),
                expose_headers=tuple(str(h) for h in item.get("expose", ())),
                max_age_seconds=None if item.get("maxAge") is None else int(item["maxAge"]),
                id=None if item.get("id") is None else str(item["id"]),
            )
            for item in items
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a stored CORS configuration: {exc}") from None
