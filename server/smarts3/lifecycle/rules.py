"""A bucket's lifecycle configuration as values, kept as JSON in its `extra`, and what the rules
say about one object: which rules apply to it and when its current version expires.

"One day" is `day_seconds` long (86,400 unless the lifecycle debug interval shortens it for
tests). With real days, expiry by Days is rounded up to the next midnight UTC as S3 does; with a
shortened day there is no rounding, so a test with a one-second day sees expiry after seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

EXTRA_KEY = "lifecycle"  # where BucketInfo.extra keeps the configuration
DAY = 86400.0
_day = [DAY]  # the lifecycle debug interval, set once per process from the settings


def set_day_seconds(seconds: float) -> None:
    _day[0] = seconds


def day_seconds() -> float:
    return _day[0]


@dataclass(frozen=True, slots=True)
class Filter:
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_greater_than: int | None = None
    size_less_than: int | None = None

    def matches_key(self, key: str, size: int) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.size_greater_than is not None and not size > self.size_greater_than:
            return False
        return self.size_less_than is None or size < self.size_less_than

    def matches_tags(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(k) == v for k, v in self.tags)


@dataclass(frozen=True, slots=True)
class Transition:
    storage_class: str
    days: int | None = None
    date: str | None = None  # ISO 8601, as given


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter = field(default_factory=Filter)
    # How the filter was written: "filter" (<Filter>), "prefix" (legacy top-level <Prefix>).
    filter_style: str = "filter"
    # "prefix", "tag", "and", "size-gt", "size-lt" or "" (empty <Filter/>): how to render it back.
    filter_shape: str = ""
    expiration_days: int | None = None
    expiration_date: str | None = None  # ISO 8601 at midnight UTC
    expiration_date_ts: float | None = None
    expired_object_delete_marker: bool | None = None
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    abort_days: int | None = None
    transitions: tuple[Transition, ...] = ()
    noncurrent_transitions: tuple[Transition, ...] = ()


Rules = tuple[Rule, ...]


def dumps(rules: Rules) -> str:
    return json.dumps([asdict(r) for r in rules], separators=(",", ":"))


def _transition(data: Mapping[str, Any]) -> Transition:
    return Transition(data["storage_class"], data.get("days"), data.get("date"))


def loads(text: str) -> Rules:
    """The stored configuration; ValueError when it cannot be read."""
    try:
        out = []
        for item in json.loads(text):
            f = item["filter"]
            flt = Filter(f["prefix"], tuple((k, v) for k, v in f["tags"]), f["size_greater_than"], f["size_less_than"])
            out.append(
                Rule(
                    **{
                        **item,
                        "filter": flt,
                        "transitions": tuple(_transition(t) for t in item["transitions"]),
                        "noncurrent_transitions": tuple(_transition(t) for t in item["noncurrent_transitions"]),
                    }
                )
            )
        return tuple(out)
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc


def stored(extra: Mapping[str, str]) -> Rules | None:
    text = extra.get(EXTRA_KEY)
    if text is None:
        return None
    try:
        return loads(text)
    except ValueError:
        return None


def expiry_of(rule: Rule, last_modified: float, day_seconds: float) -> float | None:
    """When a current version written at `last_modified` expires under `rule` (None: never)."""
    if rule.expiration_date_ts is not None:
        return rule.expiration_date_ts
    if rule.expiration_days is None:
        return None
    at = last_modified + rule.expiration_days * day_seconds
    if day_seconds == DAY:  # S3 rounds up to the next midnight UTC
        at = math.ceil(at / DAY) * DAY
    return at


def current_expiry(
    rules: Rules, key: str, size: int, tags: Mapping[str, str], last_modified: float, day_seconds: float
) -> tuple[float, str] | None:
    """(expiry time, rule id) of the earliest enabled rule expiring this current version."""
    best: tuple[float, str] | None = None
    for rule in rules:
        if not rule.enabled or not rule.filter.matches_key(key, size) or not rule.filter.matches_tags(tags):
            continue
        at = expiry_of(rule, last_modified, day_seconds)
        if at is not None and (best is None or at < best[0]):
            best = (at, rule.id)
    return best
