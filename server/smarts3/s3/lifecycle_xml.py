"""LifecycleConfiguration documents: parse with S3's error for each invalid shape, and render.

Shape errors (unknown or repeated elements, a bad enumeration value, a number that is not an
integer) are MalformedXML; out-of-range values InvalidArgument; combinations S3 refuses
InvalidRequest, with the messages S3 gives.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from smarts3.lifecycle.rules import Filter, Rule, Rules, Transition
from smarts3.s3 import xml
from smarts3.s3.errors import S3Error

MAX_RULES = 1000
MAX_ID = 255
MAX_PREFIX = 1024
MAX_NEWER_NONCURRENT = 100
STORAGE_CLASSES = frozenset(
    {"GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"}
)
_IA_MINIMUM_DAYS = 30  # STANDARD_IA and ONEZONE_IA
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_RULE_ELEMENTS = frozenset(
    {
        "ID", "Prefix", "Filter", "Status", "Expiration", "Transition", "NoncurrentVersionTransition",
        "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload",
    }
)
_REPEATABLE = frozenset({"Rule", "Transition", "NoncurrentVersionTransition", "Tag"})


def _malformed() -> S3Error:
    return S3Error("MalformedXML")


def _fields(element: Element, allowed: frozenset[str]) -> dict[str, list[Element]]:
    """The children of `element` by name; MalformedXML for unknown or repeated ones or stray text."""
    if element.text is not None and element.text.strip():
        raise _malformed()
    out: dict[str, list[Element]] = {}
    for child in element:
        name = xml.local(child.tag)
        if name not in allowed or (name in out and name not in _REPEATABLE):
            raise _malformed()
        out.setdefault(name, []).append(child)
    return out


def _leaf(element: Element) -> str:
    if len(element):
        raise _malformed()
    return element.text or ""


def _one(found: dict[str, list[Element]], name: str) -> str | None:
    items = found.get(name)
    return None if not items else _leaf(items[0])


def _integer(text: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise _malformed()
    return int(text.strip())


def _positive(text: str | None, message: str) -> int | None:
    if text is None:
        return None
    value = _integer(text)
    if value < 1:
        raise S3Error("InvalidArgument", message)
    return value


# ISO 8601 extended form (xsd:dateTime, time optional): Python's fromisoformat alone would also
# take the basic form (20300101), which S3's schema does not.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?")


def _date(text: str) -> tuple[str, float]:
    if not _DATE.fullmatch(text.strip()):
        raise _malformed()
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _malformed() from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ts = parsed.timestamp()
    if ts % 86400:
        raise S3Error("InvalidArgument", "'Date' must be at midnight GMT")
    return xml.iso8601(ts), ts


def _prefix(text: str) -> str:
    if len(text) > MAX_PREFIX:
        raise S3Error("InvalidRequest", f"The maximum size of a prefix is {MAX_PREFIX}.")
    return text


def _tag(element: Element) -> tuple[str, str]:
    found = _fields(element, frozenset({"Key", "Value"}))
    key, value = _one(found, "Key"), _one(found, "Value")
    if key is None or value is None:
        raise _malformed()
    if not 1 <= len(key) <= 128 or len(value) > 256:
        raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
    return key, value


def _size(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    value = _integer(text)
    if value < 0:
        raise S3Error("InvalidArgument", f"'{name}' must be a non-negative integer")
    return value


_FILTER = frozenset({"Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})
_AND = frozenset({"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})
_SHAPES = {"Prefix": "prefix", "Tag": "tag", "And": "and", "ObjectSizeGreaterThan": "size-gt",
           "ObjectSizeLessThan": "size-lt"}


def _filter(element: Element) -> tuple[Filter, str]:
    found = _fields(element, _FILTER)
    if sum(len(v) for v in found.values()) > 1:  # one predicate, or several inside <And>
        raise _malformed()
    if not found:
        return Filter(), ""
    (name, (child,)), = found.items()
    if name == "Prefix":
        return Filter(prefix=_prefix(_leaf(child))), "prefix"
    if name == "Tag":
        return Filter(tags=(_tag(child),)), "tag"
    if name == "ObjectSizeGreaterThan":
        return Filter(size_greater_than=_size(_leaf(child), name)), "size-gt"
    if name == "ObjectSizeLessThan":
        return Filter(size_less_than=_size(_leaf(child), name)), "size-lt"
    parts = _fields(child, _AND)
    tags = tuple(_tag(t) for t in parts.get("Tag", []))
    if len({k for k, _ in tags}) != len(tags):
        raise S3Error("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    flt = Filter(
        prefix=_prefix(_one(parts, "Prefix") or ""),
        tags=tags,
        size_greater_than=_size(_one(parts, "ObjectSizeGreaterThan"), "ObjectSizeGreaterThan"),
        size_less_than=_size(_one(parts, "ObjectSizeLessThan"), "ObjectSizeLessThan"),
    )
    if sum(len(v) for v in parts.values()) < 2:
        raise _malformed()  # And joins at least two predicates
    return flt, _SHAPES[name]


def _transition(element: Element, noncurrent: bool) -> Transition:
    days_name = "NoncurrentDays" if noncurrent else "Days"
    allowed = {days_name, "StorageClass"} | ({"NewerNoncurrentVersions"} if noncurrent else {"Date"})
    found = _fields(element, frozenset(allowed))
    storage_class = _one(found, "StorageClass")
    if storage_class not in STORAGE_CLASSES:
        raise _malformed()
    days_text, date_text = _one(found, days_name), _one(found, "Date")
    if (days_text is None) == (date_text is None):
        raise _malformed()
    days = None if days_text is None else _integer(days_text)
    action = "NoncurrentVersionTransition" if noncurrent else "Transition"
    if days is not None and days < 0:
        raise _malformed()
    if days is not None and storage_class in ("STANDARD_IA", "ONEZONE_IA") and days < _IA_MINIMUM_DAYS:
        raise S3Error(
            "InvalidArgument",
            f"'{days_name}' in {action} action for StorageClass {storage_class} must be greater than or equal to 30",
        )
    date = None if date_text is None else _date(date_text)[0]
    return Transition(storage_class, days, date)


def _rule(element: Element) -> Rule:
    found = _fields(element, _RULE_ELEMENTS)
    rule_id = _one(found, "ID") or secrets.token_urlsafe(36)  # S3 names a rule without an ID
    if len(rule_id) > MAX_ID:
        raise S3Error("InvalidArgument", "ID length should not exceed allowed limit of 255")
    status = _one(found, "Status")
    if status not in ("Enabled", "Disabled"):
        raise _malformed()
    if ("Prefix" in found) == ("Filter" in found):
        raise _malformed()  # exactly one of the legacy Prefix and Filter
    if "Prefix" in found:
        flt, style, shape = Filter(prefix=_prefix(_one(found, "Prefix") or "")), "prefix", "prefix"
    else:
        flt, shape = _filter(found["Filter"][0])
        style = "filter"
    gt, lt = flt.size_greater_than, flt.size_less_than
    if lt is not None and lt < 1:
        raise S3Error("InvalidArgument", "'ObjectSizeLessThan' must be a positive integer")
    if gt is not None and lt is not None and gt >= lt:
        raise S3Error("InvalidArgument", "'ObjectSizeGreaterThan' must be less than 'ObjectSizeLessThan'")
    values: dict[str, object] = {}
    if "Expiration" in found:
        values.update(_expiration(found["Expiration"][0], bool(flt.tags)))
    if "NoncurrentVersionExpiration" in found:
        nve = _fields(found["NoncurrentVersionExpiration"][0], frozenset({"NoncurrentDays", "NewerNoncurrentVersions"}))
        days_text = _one(nve, "NoncurrentDays")
        if days_text is None:
            raise _malformed()
        values["noncurrent_days"] = _positive(
            days_text, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"
        )
        newer = _one(nve, "NewerNoncurrentVersions")
        if newer is not None:
            count = _integer(newer)
            if not 1 <= count <= MAX_NEWER_NONCURRENT:
                raise S3Error(
                    "InvalidArgument",
                    "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be between 1 and 100",
                )
            values["newer_noncurrent_versions"] = count
    if "AbortIncompleteMultipartUpload" in found:
        if flt.tags:
            raise S3Error("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")
        abort = _fields(found["AbortIncompleteMultipartUpload"][0], frozenset({"DaysAfterInitiation"}))
        days_text = _one(abort, "DaysAfterInitiation")
        if days_text is None:
            raise _malformed()
        values["abort_days"] = _positive(
            days_text, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"
        )
    transitions = tuple(_transition(t, False) for t in found.get("Transition", []))
    noncurrent_transitions = tuple(_transition(t, True) for t in found.get("NoncurrentVersionTransition", []))
    if not values and not transitions and not noncurrent_transitions:
        raise S3Error("InvalidRequest", "At least one action needs to be specified in a rule")
    for name, group in (("Transition", transitions), ("NoncurrentVersionTransition", noncurrent_transitions)):
        if len({t.storage_class for t in group}) != len(group):
            raise S3Error("InvalidRequest", f"'StorageClass' must be different for '{name}' actions in same 'Rule'")
    if any(t.days is None for t in transitions) and any(t.days is not None for t in transitions):
        raise S3Error("InvalidRequest", "Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule")
    expiration_days = values.get("expiration_days")
    for t in transitions:
        if isinstance(expiration_days, int) and t.days is not None and t.days >= expiration_days:
            raise S3Error(
                "InvalidArgument",
                "'Days' in the Expiration action must be greater than 'Days' in the Transition action",
            )
    return Rule(
        id=rule_id,
        enabled=status == "Enabled",
        filter=flt,
        filter_style=style,
        filter_shape=shape,
        transitions=transitions,
        noncurrent_transitions=noncurrent_transitions,
        **values,  # type: ignore[arg-type]
    )


def _expiration(element: Element, tagged: bool) -> dict[str, object]:
    found = _fields(element, frozenset({"Days", "Date", "ExpiredObjectDeleteMarker"}))
    days, date, marker = _one(found, "Days"), _one(found, "Date"), _one(found, "ExpiredObjectDeleteMarker")
    if sum(v is not None for v in (days, date, marker)) != 1:
        raise _malformed()  # exactly one of Days, Date, ExpiredObjectDeleteMarker
    if days is not None:
        return {"expiration_days": _positive(days, "'Days' for Expiration action must be a positive integer")}
    if date is not None:
        text, ts = _date(date)
        return {"expiration_date": text, "expiration_date_ts": ts}
    assert marker is not None
    if marker.strip() not in ("true", "false"):
        raise _malformed()
    if tagged and marker.strip() == "true":
        raise S3Error("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags.")
    return {"expired_object_delete_marker": marker.strip() == "true"}


def parse_configuration(data: bytes) -> Rules:
    root = xml.expect_root(xml.parse(data), "LifecycleConfiguration")
    found = _fields(root, frozenset({"Rule"}))
    items = found.get("Rule", [])
    if not 1 <= len(items) <= MAX_RULES:
        raise _malformed()
    rules = tuple(_rule(item) for item in items)
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise S3Error("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule")
    return rules



# --- rendering ----------------------------------------------------------------------------------


def _tag_xml(key: str, value: str) -> str:
    return xml.node("Tag", [xml.el("Key", key), xml.el("Value", value)])


def _filter_xml(rule: Rule) -> str:
    f = rule.filter
    if rule.filter_style == "prefix":
        return xml.el("Prefix", f.prefix)
    shape = rule.filter_shape
    if shape == "prefix":
        inner = xml.el("Prefix", f.prefix)
    elif shape == "tag":
        inner = _tag_xml(*f.tags[0])
    elif shape == "size-gt":
        inner = xml.el("ObjectSizeGreaterThan", f.size_greater_than)
    elif shape == "size-lt":
        inner = xml.el("ObjectSizeLessThan", f.size_less_than)
    elif shape == "and":
        parts = [xml.el("Prefix", f.prefix)] if f.prefix else []
        parts += [_tag_xml(k, v) for k, v in f.tags]
        if f.size_greater_than is not None:
            parts.append(xml.el("ObjectSizeGreaterThan", f.size_greater_than))
        if f.size_less_than is not None:
            parts.append(xml.el("ObjectSizeLessThan", f.size_less_than))
        inner = xml.node("And", parts)
    else:
        inner = ""
    return xml.node("Filter", [inner])


def _transition_xml(name: str, t: Transition, days_name: str) -> str:
    when = xml.el(days_name, t.days) if t.days is not None else xml.el("Date", t.date)
    return xml.node(name, [when, xml.el("StorageClass", t.storage_class)])


def render_configuration(rules: Rules) -> bytes:
    items = []
    for r in rules:
        children = []
        if r.expiration_days is not None:
            children.append(xml.node("Expiration", [xml.el("Days", r.expiration_days)]))
        elif r.expiration_date is not None:
            children.append(xml.node("Expiration", [xml.el("Date", r.expiration_date)]))
        elif r.expired_object_delete_marker is not None:
            value = "true" if r.expired_object_delete_marker else "false"
            children.append(xml.node("Expiration", [xml.el("ExpiredObjectDeleteMarker", value)]))
        children.append(xml.el("ID", r.id))
        children.append(_filter_xml(r))
        children.append(xml.el("Status", "Enabled" if r.enabled else "Disabled"))
        children += [_transition_xml("Transition", t, "Days") for t in r.transitions]
        children += [_transition_xml("NoncurrentVersionTransition", t, "NoncurrentDays")
                     for t in r.noncurrent_transitions]
        if r.noncurrent_days is not None:
            nve = [xml.el("NoncurrentDays", r.noncurrent_days)]
            if r.newer_noncurrent_versions is not None:
                nve.append(xml.el("NewerNoncurrentVersions", r.newer_noncurrent_versions))
            children.append(xml.node("NoncurrentVersionExpiration", nve))
        if r.abort_days is not None:
            children.append(xml.node("AbortIncompleteMultipartUpload", [xml.el("DaysAfterInitiation", r.abort_days)]))
        items.append(xml.node("Rule", children))
    return xml.document("LifecycleConfiguration", items)
