"""Bucket policy Condition blocks: the IAM operators, parsed once and evaluated against request facts.

A condition block is {operator: {key: value-or-values}}; every operator and every key in it must
hold (AND), the values of one key are alternatives (OR; NOR for the negated operators). Keys are
case-insensitive as in IAM, except the tag name after `s3:ExistingObjectTag/` and the like.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache


class PolicyError(ValueError):
    """A policy the server refuses (S3: 400 MalformedPolicy with this reason)."""


Facts = Mapping[str, Sequence[str]]  # normalised condition key -> the request's values (absent: not in the request)

Compare = Callable[[str, str], bool]  # (request value, policy value) -> match


def normalise_key(key: str) -> str:
    """IAM keys are case-insensitive; a tag or header name after the first '/' keeps its case."""
    head, slash, tail = key.partition("/")
    return head.lower() + slash + tail


@lru_cache(maxsize=4096)
def _like(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run, `?` one character; no character classes (unlike fnmatch)."""
    return _like(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise PolicyError(f"Invalid Condition Value: {text!r} is not a number") from None


def parse_date(text: str) -> dt.datetime:
    """ISO 8601 (with or without a zone, UTC assumed) or epoch seconds, as IAM accepts."""
    try:
        if re.fullmatch(r"-?\d+", text):
            return dt.datetime.fromtimestamp(int(text), dt.UTC)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise PolicyError(f"Invalid Condition Value: {text!r} is not a date") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PolicyError(f"Invalid Condition Value: {text!r} is not an IP address or CIDR block") from None


def _in_network(value: str, policy: str) -> bool:
    try:
        return ipaddress.ip_address(value) in _network(policy)
    except ValueError:
        return False


def _arn_like(value: str, policy: str) -> bool:
    # ARNs compare per colon-separated segment; wildcards do not cross segments (the resource may).
    want, got = policy.split(":", 5), value.split(":", 5)
    return len(want) == len(got) and all(glob_match(w, g) for w, g in zip(want, got, strict=True))


def _numeric(test: Callable[[float, float], bool]) -> Compare:
    def compare(value: str, policy: str) -> bool:
        try:
            return test(float(value), _number(policy))
        except ValueError:
            return False

    return compare


def _dated(test: Callable[[dt.datetime, dt.datetime], bool]) -> Compare:
    def compare(value: str, policy: str) -> bool:
        try:
            return test(parse_date(value), parse_date(policy))
        except PolicyError:
            return False

    return compare


@dataclass(frozen=True, slots=True)
class Operator:
    compare: Compare
    negated: bool = False  # the Not… operators: no policy value may match
    check: Callable[[str], object] | None = None  # validates a policy value at parse time


_OPERATORS: dict[str, Operator] = {
    "StringEquals": Operator(lambda v, p: v == p),
    "StringNotEquals": Operator(lambda v, p: v == p, negated=True),
    "StringEqualsIgnoreCase": Operator(lambda v, p: v.casefold() == p.casefold()),
    "StringNotEqualsIgnoreCase": Operator(lambda v, p: v.casefold() == p.casefold(), negated=True),
    "StringLike": Operator(lambda v, p: glob_match(p, v)),
    "StringNotLike": Operator(lambda v, p: glob_match(p, v), negated=True),
    "NumericEquals": Operator(_numeric(lambda a, b: a == b), check=_number),
    "NumericNotEquals": Operator(_numeric(lambda a, b: a == b), negated=True, check=_number),
    "NumericLessThan": Operator(_numeric(lambda a, b: a < b), check=_number),
    "NumericLessThanEquals": Operator(_numeric(lambda a, b: a <= b), check=_number),
    "NumericGreaterThan": Operator(_numeric(lambda a, b: a > b), check=_number),
    "NumericGreaterThanEquals": Operator(_numeric(lambda a, b: a >= b), check=_number),
    "DateEquals": Operator(_dated(lambda a, b: a == b), check=parse_date),
    "DateNotEquals": Operator(_dated(lambda a, b: a == b), negated=True, check=parse_date),
    "DateLessThan": Operator(_dated(lambda a, b: a < b), check=parse_date),
    "DateLessThanEquals": Operator(_dated(lambda a, b: a <= b), check=parse_date),
    "DateGreaterThan": Operator(_dated(lambda a, b: a > b), check=parse_date),
    "DateGreaterThanEquals": Operator(_dated(lambda a, b: a >= b), check=parse_date),
    "Bool": Operator(lambda v, p: v.lower() == p.lower(), check=lambda p: _boolean(p)),
    "IpAddress": Operator(_in_network, check=_network),
    "NotIpAddress": Operator(_in_network, negated=True, check=_network),
    "ArnEquals": Operator(lambda v, p: v == p),
    "ArnNotEquals": Operator(lambda v, p: v == p, negated=True),
    "ArnLike": Operator(_arn_like),
    "ArnNotLike": Operator(_arn_like, negated=True),
    "BinaryEquals": Operator(lambda v, p: v == p),
}


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise PolicyError(f"Invalid Condition Value: {text!r} is not a boolean")
    return text.lower() == "true"


@dataclass(frozen=True, slots=True)
class Test:
    """One (operator, key, values) of a Condition block."""

    operator: str  # as written, for messages
    key: str  # normalised
    values: tuple[str, ...]
    op: Operator | None  # None: the Null operator
    if_exists: bool = False
    quantifier: str | None = None  # "ForAnyValue" | "ForAllValues"

    def holds(self, facts: Facts) -> bool:
        present = self.key in facts
        if self.op is None:  # Null: "true" asks for the key to be absent
            return any(_boolean(v) is not present for v in self.values)
        op = self.op
        got = facts.get(self.key, ())

        def one(value: str) -> bool:
            return any(op.compare(value, p) for p in self.values) is not op.negated

        if self.quantifier == "ForAllValues":
            return all(one(v) for v in got)
        if self.quantifier == "ForAnyValue":
            return any(one(v) for v in got)
        if not present or not got:
            return self.if_exists or op.negated
        matched = any(any(op.compare(v, p) for p in self.values) for v in got)
        return matched is not op.negated


def _values(raw: object, operator: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise PolicyError(f"Invalid Condition Value for operator {operator}")
    if not out:
        raise PolicyError(f"Missing Condition Value for operator {operator}")
    return tuple(out)


def parse_conditions(raw: object) -> tuple[Test, ...]:
    if not isinstance(raw, dict):
        raise PolicyError("Condition must be an object")
    tests: list[Test] = []
    for operator, block in raw.items():
        if not isinstance(block, dict) or not block:
            raise PolicyError(f"Invalid Condition block for operator {operator}")
        quantifier, _, name = operator.rpartition(":")
        if quantifier not in ("", "ForAnyValue", "ForAllValues"):
            raise PolicyError(f"Invalid Condition type : {operator}")
        if_exists = name.endswith("IfExists") and name != "IfExists"
        base = name.removesuffix("IfExists") if if_exists else name
        if base == "Null" and not if_exists:
            op = None
        elif base in _OPERATORS:
            op = _OPERATORS[base]
        else:
            raise PolicyError(f"Invalid Condition type : {operator}")
        for key, raw_values in block.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise PolicyError(f"Policy has an invalid condition key: {key}")
            values = _values(raw_values, operator)
            for value in values:
                if op is None:
                    _boolean(value)
                elif op.check is not None:
                    op.check(value)
            tests.append(Test(operator, normalise_key(key), values, op, if_exists, quantifier or None))
    return tuple(tests)


_KEY = re.compile(r"(aws|s3):[A-Za-z0-9-]+(/.+)?")


def fixed_values(tests: Sequence[Test], keys: frozenset[str]) -> bool:
    """Whether one test pins a key of `keys` to given values without wildcards (AWS's "not public")."""
    for test in tests:
        if test.key not in keys or test.op is None or test.op.negated or test.quantifier == "ForAllValues":
            continue
        if test.if_exists:
            continue
        if test.operator.endswith(("Like", "LikeIfExists")) and any("*" in v or "?" in v for v in test.values):
            continue
        if test.key == "aws:sourceip" and any(_too_broad(v) for v in test.values):
            continue
        return True
    return False


def _too_broad(cidr: str) -> bool:
    network = _network(cidr)
    return network.prefixlen < (8 if network.version == 4 else 32)

