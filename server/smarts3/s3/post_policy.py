"""The policy document of a browser POST form: base64 JSON with `expiration` and `conditions`.

Pure: `parse` refuses a malformed document (400 InvalidPolicyDocument), `check` a form the
document does not allow (403 AccessDenied "Invalid according to Policy: ..."). Field names
are compared lower-case, values exactly, as S3 does. `content-length-range` is checked by
the upload itself (`Policy.length_range`), which only knows the size at the end.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from smarts3.s3.errors import S3Error

# Fields the policy never has to name (S3: the signature, the file, the policy itself, x-ignore-*).
EXEMPT = frozenset({"x-amz-signature", "file", "policy", "signature", "awsaccesskeyid"})


def _invalid(reason: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {reason}")


def _refused(reason: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: {reason}")


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str  # "eq" | "starts-with"
    field: str  # lower-case, without "$"
    value: str
    text: str  # as S3 quotes it back when it fails


@dataclass(frozen=True, slots=True)
class Policy:
    expiration: dt.datetime
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None = None

    def check(self, fields: Mapping[str, str], bucket: str, now: dt.datetime) -> None:
        """AccessDenied unless the form (lower-case names) meets every condition and has no extra field."""
        if now >= self.expiration:
            raise _refused("Policy expired.")
        values = {**fields, "bucket": bucket}
        for condition in self.conditions:
            got = values.get(condition.field)
            ok = got is not None and (
                got == condition.value if condition.kind == "eq" else got.startswith(condition.value)
            )
            if not ok:
                raise _refused(f"Policy Condition failed: {condition.text}")
        covered = {c.field for c in self.conditions}
        extra = [
            name for name in fields if name not in covered and name not in EXEMPT and not name.startswith("x-ignore-")
        ]
        if extra:
            raise _refused(f"Extra input fields: {', '.join(extra)}")


def parse(encoded: str) -> Policy:
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=False)
        document = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    expiration = _expiration(document["expiration"])
    raw_conditions = document.get("conditions")
    if raw_conditions is None:
        raise _invalid("Policy missing conditions.")
    if not isinstance(raw_conditions, list):
        raise _invalid("Invalid 'conditions' value: must be a list.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for item in raw_conditions:
        if isinstance(item, dict):
            if len(item) != 1:
                raise _invalid(f"Invalid Simple-Condition: Simple-Conditions must have exactly one property specified. "
                               f"{json.dumps(item)}")
            ((name, value),) = item.items()
            if not isinstance(value, str):
                raise _invalid(f"Invalid Simple-Condition: value must be a string. {json.dumps(item)}")
            field = name.lower().removeprefix("$")
            conditions.append(Condition("eq", field, value, json.dumps(["eq", f"${field}", value])))
        elif isinstance(item, list) and item and item[0] == "content-length-range":
            length_range = _length_range(item)
        elif isinstance(item, list) and len(item) == 3 and str(item[0]).lower() in ("eq", "starts-with"):
            kind, name, value = str(item[0]).lower(), item[1], item[2]
            if not isinstance(name, str) or not name.startswith("$") or not isinstance(value, str):
                raise _invalid(f"Invalid Condition: {json.dumps(item)}")
            conditions.append(Condition(kind, name[1:].lower(), value, json.dumps(item)))
        else:
            raise _invalid(f"Invalid Condition: {json.dumps(item)}")
    return Policy(expiration, tuple(conditions), length_range)


def _expiration(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise _invalid(f"Invalid 'expiration' value: '{value}'")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{value}'") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _length_range(item: list[object]) -> tuple[int, int]:
    def bound(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        return int(value)

    try:
        if len(item) != 3:
            raise ValueError
        low, high = bound(item[1]), bound(item[2])
    except ValueError:
        raise _invalid(f"Invalid 'content-length-range' condition: {json.dumps(item)}") from None
    if low < 0 or high < low:
        raise _invalid(f"Invalid 'content-length-range' condition: {json.dumps(item)}")
    return low, high
