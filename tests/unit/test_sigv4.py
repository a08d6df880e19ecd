from __future__ import annotations

import datetime
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from smarts3.auth import sigv4
from smarts3.auth.query import parse_query

# The AWS documentation's example credentials and request time.
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
EMPTY = sigv4.EMPTY_SHA256


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "/"),
        (b"/", "/"),
        (b"/test.txt", "/test.txt"),
        (b"/test%24file.text", "/test%24file.text"),
        (b"/test$file.text", "/test%24file.text"),  # sent unescaped, signed escaped
        (b"/b/a%20b", "/b/a%20b"),
        (b"/b/a b", "/b/a%20b"),
        (b"/b/a+b", "/b/a%2Bb"),  # a plus in a path is a plus
        (b"/b/%21%2A%27%28%29", "/b/%21%2A%27%28%29"),
        (b"/b/!*'()", "/b/%21%2A%27%28%29"),
        (b"/b/%c3%bc", "/b/%C3%BC"),  # lower-case escapes normalize
        (b"/b/\xc3\xbc", "/b/%C3%BC"),  # raw UTF-8 on the wire
        (b"/b/%7Etilde-_.", "/b/~tilde-_."),
        (b"/b/a%2Fb", "/b/a/b"),
        (b"/b//x/./../y/", "/b//x/./../y/"),  # never normalized: these are key bytes
        (b"/b/%FF%00", "/b/%FF%00"),  # not UTF-8: bytes survive
    ],
)
def test_canonical_uri(raw: bytes, expected: str) -> None:
    assert sigv4.canonical_uri(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", ""),
        (b"acl", "acl="),
        (b"lifecycle", "lifecycle="),
        (b"prefix=J&max-keys=2", "max-keys=2&prefix=J"),
        (b"b=1&a=0", "a=0&b=1"),
        (b"b=1&B=2&a=3", "B=2&a=3&b=1"),  # byte order: upper case first
        (b"prefix=a%20b", "prefix=a%20b"),
        (b"prefix=a+b", "prefix=a%2Bb"),
        (b"prefix=%e2%82%ac", "prefix=%E2%82%AC"),
        (b"prefix=~%7E", "prefix=~~"),
        (b"x=a=b", "x=a%3Db"),
        (b"&&x=1&", "x=1"),
        (b"response-content-type=text%2Fplain", "response-content-type=text%2Fplain"),
        (b"a%20b=%2b+", "a%20b=%2B%2B"),  # names decode too; '+' and %2B are one character
    ],
)
def test_canonical_query(raw: bytes, expected: str) -> None:
    assert sigv4.canonical_query(parse_query(raw)) == expected


def test_canonical_query_excludes_signature() -> None:
    query = parse_query(b"X-Amz-Date=1&X-Amz-Signature=abc&a=b")
    assert sigv4.canonical_query(query, exclude=("X-Amz-Signature",)) == "X-Amz-Date=1&a=b"
    assert sigv4.raw_canonical_query(query, exclude=("X-Amz-Signature",)) == "X-Amz-Date=1&a=b"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"b=%2b&a", "a=&b=%2b"),  # as sent, only sorted; `a` signs as `a=`
        (b"prefix=a+b&x=%7e", "prefix=a+b&x=%7e"),
        (b"", ""),
    ],
)
def test_raw_canonical_query(raw: bytes, expected: str) -> None:
    assert sigv4.raw_canonical_query(parse_query(raw)) == expected


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"prefix=a+b", b"prefix=a%2Bb"),  # '+' is a plus for the signer and the server alike
        (b"prefix=a%20b", b"prefix=a b"),
        (b"k=%c3%bc", b"k=%C3%BC"),
    ],
)
def test_wire_forms_of_one_query_sign_alike(first: bytes, second: bytes) -> None:
    one, two = parse_query(first), parse_query(second)
    assert dict(one) == dict(two)
    assert sigv4.canonical_query(one) == sigv4.canonical_query(two)


def test_a_space_is_not_a_plus() -> None:
    space, plus = parse_query(b"prefix=a%20b"), parse_query(b"prefix=a+b")
    assert (space["prefix"], plus["prefix"]) == ("a b", "a+b")
    assert sigv4.canonical_query(space) != sigv4.canonical_query(plus)


def test_canonical_headers_trimall() -> None:
    headers = {"host": "h", "x-amz-meta-a": "  one   two\t three  ", "x-amz-date": AMZ_DATE}
    assert sigv4.canonical_headers(headers, ["host", "x-amz-date", "x-amz-meta-a"]) == (
        f"host:h\nx-amz-date:{AMZ_DATE}\nx-amz-meta-a:one two three\n"
    )


def test_signing_key_is_cached() -> None:
    sigv4.signing_key.cache_clear()
    first = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    second = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    assert first == second
    info = sigv4.signing_key.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert sigv4.signing_key(SECRET, "20130525", "us-east-1", "s3") != first


def test_aws_get_object_canonical_request() -> None:
    """The canonical request and its hash from the AWS S3 'GET Object' example."""
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY,
        "x-amz-date": AMZ_DATE,
    }
    signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"]
    creq = sigv4.canonical_request("GET", "/test.txt", "", headers, signed, EMPTY)
    assert creq == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY}\nx-amz-date:{AMZ_DATE}\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY}"
    )
    sts = sigv4.string_to_sign(AMZ_DATE, SCOPE, creq)
    assert sts.endswith("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")


# The four "Transferring Payload in a Single Chunk" examples of the S3 documentation.
AWS_SINGLE_CHUNK = [
    pytest.param(
        "GET",
        b"/test.txt",
        b"",
        {"range": "bytes=0-9", "x-amz-content-sha256": EMPTY, "x-amz-date": AMZ_DATE},
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        id="get-object",
    ),
    pytest.param(
        "PUT",
        b"/test%24file.text",
        b"",
        {
            "date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-content-sha256": ("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
            "x-amz-date": AMZ_DATE,
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        id="put-object",
    ),
    pytest.param(
        "GET",
        b"/",
        b"lifecycle",
        {"x-amz-content-sha256": EMPTY, "x-amz-date": AMZ_DATE},
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        id="get-bucket-lifecycle",
    ),
    pytest.param(
        "GET",
        b"/",
        b"max-keys=2&prefix=J",
        {"x-amz-content-sha256": EMPTY, "x-amz-date": AMZ_DATE},
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        id="list-objects",
    ),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "signature"), AWS_SINGLE_CHUNK)
def test_aws_single_chunk_examples(
    method: str, path: bytes, query: bytes, headers: dict[str, str], signature: str
) -> None:
    headers = {"host": "examplebucket.s3.amazonaws.com", **headers}
    signed = sorted(headers)
    creq = sigv4.canonical_request(
        method,
        sigv4.canonical_uri(path),
        sigv4.canonical_query(parse_query(query)),
        headers,
        signed,
        headers["x-amz-content-sha256"],
    )
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    assert sigv4.sign(key, sigv4.string_to_sign(AMZ_DATE, SCOPE, creq)) == signature


def test_aws_chunked_example_signatures() -> None:
    """S3 docs, chunked 'Example: PUT Object': 64 KiB + 1 KiB of 'a', then the final chunk."""
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    previous = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    expected = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    for data, want in zip([b"a" * 65536, b"a" * 1024, b""], expected, strict=True):
        sts = sigv4.chunk_string_to_sign(AMZ_DATE, SCOPE, previous, sigv4.sha256_hex(data))
        assert sts.startswith(f"AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{previous}\n")
        previous = sigv4.sign(key, sts)
        assert previous == want


def test_trailer_string_to_sign_shape() -> None:
    sts = sigv4.trailer_string_to_sign(AMZ_DATE, SCOPE, "prev", "abc")
    assert sts == f"AWS4-HMAC-SHA256-TRAILER\n{AMZ_DATE}\n{SCOPE}\nprev\nabc"


def test_signatures_equal_tolerates_garbage() -> None:
    assert sigv4.signatures_equal("ab", "ab")
    assert not sigv4.signatures_equal("ab", "ä")


KEYS = [
    "plain.txt",
    "a b/c d",
    "ü/ß/€",
    "a+b=c&d",
    "100%",
    "~tilde-_.",
    "!*'()[]{}",
    "dir//x/../y/./z",
    "trailing/",
    "tab\there",
    "?question#hash",
]


@pytest.mark.parametrize("key", KEYS)
def test_canonical_request_matches_botocore(key: str) -> None:
    """The wire path botocore sends canonicalizes to exactly what botocore signed."""
    path = "/bucket/" + quote(key, safe="/~")  # what botocore's serializer puts on the wire
    query = "prefix=" + quote(key, safe="-_.~") + "&list-type=2&encoding-type=url"
    request = AWSRequest(
        method="GET",
        url=f"http://localhost:9000{path}?{query}",
        headers={"x-amz-meta-k": "  v  v ", "X-Amz-Content-SHA256": EMPTY},
    )
    signer = S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1")
    request.context["timestamp"] = AMZ_DATE
    signer._modify_request_before_signing(request)
    expected = signer.canonical_request(request)

    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "localhost:9000"
    signed = signer.signed_headers(signer.headers_to_sign(request)).split(";")
    ours = sigv4.canonical_request(
        "GET",
        sigv4.canonical_uri(path.encode()),
        sigv4.canonical_query(parse_query(query.encode())),
        headers,
        signed,
        EMPTY,
    )
    assert ours == expected


def test_signing_key_matches_botocore() -> None:
    signer = S3SigV4Auth(Credentials(AKID, SECRET), "s3", "eu-west-3")
    request = AWSRequest(method="GET", url="http://h/")
    request.context["timestamp"] = datetime.datetime(2024, 2, 29).strftime("%Y%m%dT%H%M%SZ")
    key = sigv4.signing_key(SECRET, "20240229", "eu-west-3", "s3")
    assert sigv4.sign(key, "x") == signer.signature("x", request)
