"""The lifecycle rule model (filters, expiry times, the stored JSON) and the access log record
format of bucket logging, without a server."""

from __future__ import annotations

import calendar
import re

import pytest

from smarts3.accesslog_delivery import Raw, format_record, object_key
from smarts3.lifecycle import rules as lc
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.logging_config import LoggingTarget
from smarts3.s3.lifecycle_xml import parse_configuration, render_configuration

DAY = 86400.0
NOON = calendar.timegm((2026, 3, 10, 12, 0, 0))


def _rule(**kw: object) -> lc.Rule:
    return lc.Rule(id=str(kw.pop("id", "r")), enabled=bool(kw.pop("enabled", True)), **kw)  # type: ignore[arg-type]


def test_days_round_up_to_midnight_only_with_real_days() -> None:
    rule = _rule(expiration_days=2)
    assert lc.expiry_of(rule, NOON, DAY) == calendar.timegm((2026, 3, 13, 0, 0, 0))
    assert lc.expiry_of(rule, NOON, 1.0) == NOON + 2  # the debug interval: no rounding
    assert lc.expiry_of(_rule(expiration_date_ts=5.0), NOON, DAY) == 5.0
    assert lc.expiry_of(_rule(noncurrent_days=1), NOON, DAY) is None


def test_current_expiry_takes_the_earliest_enabled_matching_rule() -> None:
    rules = (
        _rule(id="late", expiration_days=9),
        _rule(id="early", expiration_days=1, filter=lc.Filter(prefix="logs/")),
        _rule(id="off", enabled=False, expiration_days=0),
        _rule(id="tagged", expiration_days=0, filter=lc.Filter(tags=(("t", "1"),))),
    )
    assert lc.current_expiry(rules, "logs/a", 1, {}, NOON, 1.0) == (NOON + 1, "early")
    assert lc.current_expiry(rules, "data/a", 1, {}, NOON, 1.0) == (NOON + 9, "late")
    assert lc.current_expiry(rules, "data/a", 1, {"t": "1"}, NOON, 1.0) == (NOON, "tagged")
    assert lc.current_expiry(rules[1:3], "data/a", 1, {}, NOON, 1.0) is None


@pytest.mark.parametrize(("size", "matches"), [(10, False), (11, True), (99, True), (100, False)])
def test_size_bounds_are_exclusive(size: int, matches: bool) -> None:
    assert lc.Filter(size_greater_than=10, size_less_than=100).matches_key("k", size) is matches


def test_stored_json_round_trips_and_renders_back() -> None:
    document = (
        b"<LifecycleConfiguration><Rule><ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value>"
        b"</Tag><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>"
        b"<Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration><Transition><Days>1</Days>"
        b"<StorageClass>GLACIER</StorageClass></Transition></Rule></LifecycleConfiguration>"
    )
    rules = parse_configuration(document)
    assert lc.loads(lc.dumps(rules)) == rules
    assert parse_configuration(render_configuration(rules)) == rules
    assert lc.stored({lc.EXTRA_KEY: "not json"}) is None


def test_duplicate_ids_are_invalid_argument() -> None:
    rule = b"<Rule><ID>x</ID><Prefix/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
    with pytest.raises(S3Error) as exc:
        parse_configuration(b"<LifecycleConfiguration>" + rule + rule + b"</LifecycleConfiguration>")
    assert exc.value.code == "InvalidArgument"


def _raw(**kw: object) -> Raw:
    values: dict[str, object] = {
        "time": NOON, "remote": "10.0.0.1", "access_key": None, "request_id": "RID",
        "operation": "REST.GET.OBJECT", "bucket": "b", "key": "a b/c", "method": "GET", "target": "/b/a%20b/c",
        "http_version": "1.1", "status": 200, "error_code": None, "bytes_sent": 0, "object_size": None,
        "total_ms": 3, "turnaround_ms": None, "referer": None, "user_agent": 'ua "quoted"\n',
        "version_id": None, "signature": None, "auth_type": None, "host": "h", "tls": None,
    }
    values.update(kw)
    return Raw(**values)  # type: ignore[arg-type]


def test_record_has_every_field_with_dashes_and_escapes() -> None:
    line = format_record(_raw(), "owner")
    tokens = re.findall(r'\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\S+', line)
    assert len(tokens) == 26 and "\n" not in line
    assert tokens[:9] == ["owner", "b", "[10/Mar/2026:12:00:00 +0000]", "10.0.0.1", "-", "RID", "REST.GET.OBJECT",
                          "a%20b/c", '"GET /b/a%20b/c HTTP/1.1"']
    assert tokens[9:15] == ["200", "-", "-", "-", "3", "-"]
    assert tokens[16] == '"ua \\x22quoted\\x22\\x0A"'


def test_object_keys_are_named_as_s3_names_them() -> None:
    simple = object_key(LoggingTarget("t", "logs/"), "src", "us-east-1", "owner", NOON)
    assert re.fullmatch(r"logs/\d{4}(-\d{2}){5}-[0-9A-F]{16}", simple)
    partitioned = object_key(LoggingTarget("t", "p/", True, "EventTime"), "src", "us-east-1", "owner", NOON)
    assert re.fullmatch(r"p/owner/us-east-1/src/2026/03/10/\d{4}(-\d{2}){5}-[0-9A-F]{16}", partitioned)
