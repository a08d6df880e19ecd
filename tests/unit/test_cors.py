"""CORS rule evaluation and the CORSConfiguration document, table-driven."""

from __future__ import annotations

import pytest

from smarts3 import cors
from smarts3.config.declared import CorsRule
from smarts3.cors import Rule
from smarts3.s3.errors import S3Error
from smarts3.s3.handlers.cors import parse_configuration, render_configuration

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
ORIGIN = "<AllowedOrigin>https://app.example.com</AllowedOrigin>"
METHOD = "<AllowedMethod>GET</AllowedMethod>"
MINIMAL = ORIGIN + METHOD


def rule(**fields: object) -> Rule:
    base: dict[str, object] = {"allowed_origins": ("*",), "allowed_methods": ("GET",)}
    return Rule(**{**base, **fields})  # type: ignore[arg-type]


def document(*rules: str) -> bytes:
    return f'<CORSConfiguration xmlns="{NS}">{"".join(f"<CORSRule>{r}</CORSRule>" for r in rules)}' \
           "</CORSConfiguration>".encode()


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("*", "https://a.example", True),
    ("*", "", True),
    ("https://a.example", "https://a.example", True),
    ("https://a.example", "https://a.example/", False),
    ("https://a.example", "http://a.example", False),
    ("https://a.example", "https://A.example", False),
    ("https://*.example.com", "https://www.example.com", True),
    ("https://*.example.com", "https://a.b.example.com", True),
    ("https://*.example.com", "https://.example.com", True),
    ("https://*.example.com", "https://example.com", False),
    ("https://*.example.com", "https://www.example.com:8443", False),
    ("https://*.example.com", "https://evil.com/.example.com.x", False),
    ("https://host:*", "https://host:8080", True),
    ("https://host:*", "https://host", False),
    ("http*://host", "https://host", True),
    ("http*://host", "ftp://host", False),
    ("a*a", "aa", True),
    ("a*a", "a", False),  # prefix and suffix must not overlap
    ("x-amz-*", "x-amz-", True),
    ("x-amz-*", "x-amz", False),
    ("x-*-id", "x-request-id", True),
    ("a*b*c", "a-b-c", True),
    ("a*b*c", "acb", False),
    ("", "", True),
    ("", "x", False),
])
def test_wildcard_match(pattern: str, value: str, expected: bool) -> None:
    assert cors.wildcard_match(pattern, value) is expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, ()),
    ("", ()),
    (" , ,", ()),
    ("content-type", ("content-type",)),
    ("Content-Type,X-Amz-Date ,  x-amz-meta-Name", ("content-type", "x-amz-date", "x-amz-meta-name")),
])
def test_parse_request_headers(value: str | None, expected: tuple[str, ...]) -> None:
    assert cors.parse_request_headers(value) == expected


@pytest.mark.parametrize(("allowed", "origin", "expected"), [
    (("https://app.example.com",), "https://app.example.com", True),
    (("https://app.example.com",), "https://APP.example.com", False),  # origins are case-sensitive
    (("https://a.example", "https://*.example.com"), "https://x.example.com", True),
    (("https://a.example", "https://*.example.com"), "https://b.example", False),
    (("*",), "null", True),
])
def test_match_origin(allowed: tuple[str, ...], origin: str, expected: bool) -> None:
    r = rule(allowed_origins=allowed)
    assert (cors.match([r], origin, "GET") is r) is expected


@pytest.mark.parametrize(("allowed", "method", "expected"), [
    (("GET",), "GET", True),
    (("GET",), "HEAD", False),
    (("GET", "HEAD"), "HEAD", True),
    (("PUT", "POST", "DELETE"), "DELETE", True),
    (("GET",), "get", False),  # methods compare exactly
    (cors.METHODS, "OPTIONS", False),
    (cors.METHODS, "PATCH", False),
])
def test_match_method(allowed: tuple[str, ...], method: str, expected: bool) -> None:
    r = rule(allowed_methods=allowed)
    assert (cors.match([r], "https://x", method) is r) is expected


@pytest.mark.parametrize(("allowed", "requested", "expected"), [
    ((), (), True),
    (("content-type",), (), True),
    ((), ("content-type",), False),
    (("content-type",), ("content-type",), True),
    (("Content-Type",), ("content-type",), True),  # header names are case-insensitive
    (("content-type",), ("CONTENT-TYPE",), True),
    (("content-type",), ("content-type", "x-amz-date"), False),  # every requested header must be allowed
    (("content-type", "x-amz-date"), ("x-amz-date", "content-type"), True),
    (("*",), ("authorization", "x-custom", "content-type"), True),
    (("X-Amz-*",), ("x-amz-date", "x-amz-content-sha256"), True),
    (("x-amz-*",), ("x-amzn-trace-id",), False),
    (("x-amz-*", "content-type"), ("x-amz-date", "content-type"), True),
    (("*-type",), ("content-types",), False),
])
def test_match_request_headers(allowed: tuple[str, ...], requested: tuple[str, ...], expected: bool) -> None:
    r = rule(allowed_headers=allowed)
    assert (cors.match([r], "https://x", "GET", requested) is r) is expected


EXACT = rule(id="exact", allowed_origins=("https://app.example.com",), allowed_methods=("GET", "PUT"))
PATTERN = rule(id="pattern", allowed_origins=("https://*.com",), allowed_headers=("*",))
ANY = rule(id="any", allowed_methods=("GET", "HEAD"))


@pytest.mark.parametrize(("rules", "method", "requested", "expected"), [
    ((EXACT, PATTERN, ANY), "GET", (), "exact"),
    ((ANY, PATTERN, EXACT), "GET", (), "any"),
    ((ANY, EXACT, PATTERN), "PUT", (), "exact"),
    ((PATTERN, EXACT, ANY), "PUT", (), "exact"),
    ((EXACT, PATTERN, ANY), "HEAD", (), "any"),
    ((EXACT, PATTERN, ANY), "GET", ("x-amz-date",), "pattern"),
    ((EXACT, PATTERN, ANY), "DELETE", (), None),
    ((), "GET", (), None),
])
def test_first_matching_rule_wins(
    rules: tuple[Rule, ...], method: str, requested: tuple[str, ...], expected: str | None
) -> None:
    found = cors.match(rules, "https://app.example.com", method, requested)
    assert (found.id if found else None) == expected


def test_origin_method_and_headers_must_match_in_one_rule() -> None:
    rules = [rule(allowed_origins=("https://a",), allowed_methods=("PUT",)),
             rule(allowed_origins=("https://b",), allowed_methods=("GET",))]
    assert cors.match(rules, "https://a", "GET") is None


@pytest.mark.parametrize(("r", "origin", "requested", "expected"), [
    (rule(), "https://x", None, [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET"),
        ("vary", cors.VARY),
    ]),
    (rule(allowed_origins=("https://x", "*")), "https://x", None, [  # a literal * anywhere: no credentials
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET"),
        ("vary", cors.VARY),
    ]),
    (rule(allowed_origins=("https://*.example.com",), allowed_methods=("GET", "PUT"),
          expose_headers=("ETag", "x-amz-request-id"), max_age_seconds=3000),
     "https://w.example.com", ("content-type", "x-amz-date"), [
        ("access-control-allow-origin", "https://w.example.com"),
        ("access-control-allow-methods", "GET, PUT"),
        ("access-control-allow-headers", "content-type, x-amz-date"),
        ("access-control-expose-headers", "ETag, x-amz-request-id"),
        ("access-control-max-age", "3000"),
        ("access-control-allow-credentials", "true"),
        ("vary", cors.VARY),
    ]),
    (rule(allowed_origins=("https://x",), max_age_seconds=0), "https://x", (), [
        ("access-control-allow-origin", "https://x"),
        ("access-control-allow-methods", "GET"),
        ("access-control-max-age", "0"),
        ("access-control-allow-credentials", "true"),
        ("vary", cors.VARY),
    ]),
])
def test_response_headers(r: Rule, origin: str, requested: tuple[str, ...] | None,
                          expected: list[tuple[str, str]]) -> None:
    assert cors.response_headers(r, origin, requested) == expected


@pytest.mark.parametrize(("r", "problem"), [
    (rule(), None),
    (rule(allowed_origins=("*", "https://*.example.com", "https://host:*")), None),
    (rule(allowed_methods=("GET", "PATCH")),
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    (rule(allowed_methods=("get",)), "Found unsupported HTTP method in CORS config. Unsupported method is get"),
    (rule(allowed_origins=("https://*.example.*",)), 'AllowedOrigin "https://*.example.*" can not have more than one '
                                                     "wildcard."),
    (rule(allowed_headers=("x-*-meta-*",)), 'AllowedHeader "x-*-meta-*" can not have more than one wildcard.'),
    (rule(expose_headers=("x-amz-*",)), 'ExposeHeader "x-amz-*" contains wildcard. We currently do not support '
                                        "wildcard for ExposeHeader."),
    # methods are checked before origins, origins before headers
    (rule(allowed_methods=("TRACE",), allowed_origins=("**",)), "Found unsupported HTTP method in CORS config. "
                                                                "Unsupported method is TRACE"),
    (rule(allowed_origins=("**",), allowed_headers=("**",)), 'AllowedOrigin "**" can not have more than one wildcard.'),
])
def test_rule_problem(r: Rule, problem: str | None) -> None:
    assert cors.rule_problem(r) == problem


@pytest.mark.parametrize("rules", [
    (rule(),),
    (rule(id="r1", allowed_origins=("https://a", "https://*.b"), allowed_methods=cors.METHODS,
          allowed_headers=("*",), expose_headers=("ETag",), max_age_seconds=0),
     rule(id="", allowed_origins=("",)),
     rule(id='<&"é 日本>')),
])
def test_json_round_trip(rules: tuple[Rule, ...]) -> None:
    assert cors.loads(cors.dumps(rules)) == rules


@pytest.mark.parametrize("text", ["{}", "[1]", '[{"origins": ["*"]}]', "not json"])
def test_loads_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"stored CORS configuration|Expecting value"):
        cors.loads(text)


def test_from_declared() -> None:
    declared = [CorsRule.model_validate({"allowedOrigins": ["*"], "allowedMethods": ["GET"], "maxAgeSeconds": 5,
                                         "exposeHeaders": ["ETag"], "id": "d"})]
    assert cors.from_declared(declared) == (rule(expose_headers=("ETag",), max_age_seconds=5, id="d"),)


# --- the CORSConfiguration document ---------------------------------------------------------------

FULL = (
    "<ID>rule-1</ID><AllowedOrigin>https://a.example</AllowedOrigin><AllowedOrigin>https://*.b.example</AllowedOrigin>"
    "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader>"
    "<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds>"
)
FULL_RULE = rule(id="rule-1", allowed_origins=("https://a.example", "https://*.b.example"),
                 allowed_methods=("GET", "PUT"), allowed_headers=("*",), expose_headers=("ETag",),
                 max_age_seconds=3000)


@pytest.mark.parametrize("body", [
    document(FULL),
    f"<CORSConfiguration><CORSRule>{FULL}</CORSRule></CORSConfiguration>".encode(),
    b'<?xml version="1.0" encoding="UTF-8"?>\n' + document(FULL),
    f'<s3:CORSConfiguration xmlns:s3="{NS}"><s3:CORSRule>'.encode()
    + FULL.replace("<", "<s3:").replace("<s3:/", "</s3:").encode() + b"</s3:CORSRule></s3:CORSConfiguration>",
    document("\n  " + FULL.replace("><", ">\n  <") + "\n"),
    document("<MaxAgeSeconds>3000</MaxAgeSeconds><AllowedMethod>GET</AllowedMethod><ExposeHeader>ETag</ExposeHeader>"
             "<AllowedOrigin>https://a.example</AllowedOrigin><AllowedHeader>*</AllowedHeader><ID>rule-1</ID>"
             "<AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://*.b.example</AllowedOrigin>"),
    document(FULL.replace("<ID>rule-1</ID>", "<!-- a comment --><ID><![CDATA[rule-1]]></ID>")),
])
def test_parse_forms(body: bytes) -> None:
    assert parse_configuration(body) == (FULL_RULE,)


@pytest.mark.parametrize(("body", "expected"), [
    (document(MINIMAL + "<MaxAgeSeconds>0042</MaxAgeSeconds>"), rule(allowed_origins=("https://app.example.com",),
                                                                     max_age_seconds=42)),
    (document(MINIMAL + "<MaxAgeSeconds>2147483647</MaxAgeSeconds>"),
     rule(allowed_origins=("https://app.example.com",), max_age_seconds=2**31 - 1)),
    (document(MINIMAL + "<ID/>"), rule(allowed_origins=("https://app.example.com",), id="")),
    (document(MINIMAL + f"<ID>{'i' * 255}</ID>"), rule(allowed_origins=("https://app.example.com",), id="i" * 255)),
    (document("<AllowedOrigin> https://a </AllowedOrigin>" + METHOD), rule(allowed_origins=(" https://a ",))),
    (document("<AllowedOrigin>HTTPS://A.example</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod>"
              "<AllowedHeader>Content-Type</AllowedHeader>"),
     rule(allowed_origins=("HTTPS://A.example",), allowed_methods=("HEAD",), allowed_headers=("Content-Type",))),
])
def test_parse_values(body: bytes, expected: Rule) -> None:
    assert parse_configuration(body) == (expected,)


def test_parse_hundred_rules() -> None:
    assert len(parse_configuration(document(*[MINIMAL] * 100))) == 100


@pytest.mark.parametrize("body", [
    b"not xml",
    b"<CORSConfiguration><CORSRule>",
    b"<CORSRules><CORSRule>" + MINIMAL.encode() + b"</CORSRule></CORSRules>",
    b"<corsconfiguration><CORSRule>" + MINIMAL.encode() + b"</CORSRule></corsconfiguration>",
    b"<CORSRule>" + MINIMAL.encode() + b"</CORSRule>",
    document(),
    document(*[MINIMAL] * 101),
    f"<CORSConfiguration>{MINIMAL}</CORSConfiguration>".encode(),
    f"<CORSConfiguration>text<CORSRule>{MINIMAL}</CORSRule></CORSConfiguration>".encode(),
    f"<CORSConfiguration><CORSRule>{MINIMAL}</CORSRule><Owner/></CORSConfiguration>".encode(),
    document(""),
    document(METHOD),
    document(ORIGIN),
    document(MINIMAL, METHOD),
    document(MINIMAL + "text"),
    document(MINIMAL + "<AllowedHeaders>*</AllowedHeaders>"),
    document(MINIMAL + "<allowedheader>*</allowedheader>"),
    document(f"<CORSRule>{MINIMAL}</CORSRule>"),
    document(f"<AllowedOrigin><Origin>*</Origin></AllowedOrigin>{METHOD}"),
    document(MINIMAL + "<MaxAgeSeconds></MaxAgeSeconds>"),
    document(MINIMAL + "<MaxAgeSeconds>-1</MaxAgeSeconds>"),
    document(MINIMAL + "<MaxAgeSeconds>1.5</MaxAgeSeconds>"),
    document(MINIMAL + "<MaxAgeSeconds> 1</MaxAgeSeconds>"),
    document(MINIMAL + "<MaxAgeSeconds>2147483648</MaxAgeSeconds>"),
    document(MINIMAL + "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds>"),
    document(MINIMAL + f"<ID>{'i' * 256}</ID>"),
    document(MINIMAL + "<ID>a</ID><ID>b</ID>"),
    # the document's shape is judged before any rule's content
    document("<AllowedOrigin>**</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>", METHOD),
])
def test_parse_malformed(body: bytes) -> None:
    with pytest.raises(S3Error) as err:
        parse_configuration(body)
    assert err.value.code == "MalformedXML"


def test_parse_empty_body() -> None:
    with pytest.raises(S3Error) as err:
        parse_configuration(b"")
    assert err.value.code == "MissingRequestBodyError"


@pytest.mark.parametrize(("rules", "message"), [
    ((ORIGIN + "<AllowedMethod>PATCH</AllowedMethod>",),
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    ((MINIMAL, MINIMAL, ORIGIN + METHOD + "<AllowedMethod>options</AllowedMethod>"),
     "Found unsupported HTTP method in CORS config. Unsupported method is options"),
    (("<AllowedOrigin>http://*.*</AllowedOrigin>" + METHOD,), 'AllowedOrigin "http://*.*" can not have more than '
                                                              "one wildcard."),
    ((MINIMAL + "<AllowedHeader>*-*</AllowedHeader>",), 'AllowedHeader "*-*" can not have more than one wildcard.'),
    ((MINIMAL + "<ExposeHeader>*</ExposeHeader>",), 'ExposeHeader "*" contains wildcard. We currently do not '
                                                    "support wildcard for ExposeHeader."),
    ((MINIMAL + "<ExposeHeader>x-*</ExposeHeader>", ORIGIN + "<AllowedMethod>PATCH</AllowedMethod>"),
     'ExposeHeader "x-*" contains wildcard. We currently do not support wildcard for ExposeHeader.'),
])
def test_parse_invalid_request(rules: tuple[str, ...], message: str) -> None:
    with pytest.raises(S3Error) as err:
        parse_configuration(document(*rules))
    assert (err.value.code, err.value.message) == ("InvalidRequest", message)


def test_render_order_and_round_trip() -> None:
    rules = (FULL_RULE, rule(allowed_methods=("HEAD",)), rule(id='<a> & "b"', allowed_origins=("https://x/?a=1&b=2",)))
    body = render_configuration(rules)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns="')
    assert (b"<CORSRule><ID>rule-1</ID><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
            b"<AllowedOrigin>https://a.example</AllowedOrigin><AllowedOrigin>https://*.b.example</AllowedOrigin>"
            b"<AllowedHeader>*</AllowedHeader><MaxAgeSeconds>3000</MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader>"
            b"</CORSRule><CORSRule><AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>"
            ) in body
    assert parse_configuration(body) == rules
