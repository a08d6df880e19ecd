"""HttpsRedirect.location: where the plain-HTTP redirect port may send a client."""

from __future__ import annotations

import pytest

from smarts3.tls import HttpsRedirect

WITH_DOMAIN = HttpsRedirect(9443, "10.0.0.5", "s3.example.test")
NO_DOMAIN = HttpsRedirect(9443, "0.0.0.0")


@pytest.mark.parametrize(
    ("redirect", "host", "expected"),
    [
        (WITH_DOMAIN, "s3.example.test", "https://s3.example.test:9443/p"),
        (WITH_DOMAIN, "Bucket.S3.Example.Test:80", "https://bucket.s3.example.test:9443/p"),
        (WITH_DOMAIN, "s3.example.test.", "https://s3.example.test:9443/p"),
        (WITH_DOMAIN, "10.0.0.5:9080", "https://10.0.0.5:9443/p"),
        (WITH_DOMAIN, "localhost", "https://localhost:9443/p"),
        (WITH_DOMAIN, "[::1]:80", "https://[::1]:9443/p"),
        (WITH_DOMAIN, None, "https://10.0.0.5:9443/p"),
        (NO_DOMAIN, None, "https://localhost:9443/p"),
        (NO_DOMAIN, "anything.example", "https://anything.example:9443/p"),
        (NO_DOMAIN, "[2001:db8::1]", "https://[2001:db8::1]:9443/p"),
        (HttpsRedirect(9443, "::1", "s3.example.test"), "[::1]", "https://[::1]:9443/p"),
    ],
)
def test_allowed_hosts(redirect: HttpsRedirect, host: str | None, expected: str) -> None:
    assert redirect.location(host, "/p") == expected


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "10.0.0.6",
        "evil.test.s3.example.test.evil",
        "xs3.example.test",
        "evil.test@s3.example.test",
        "s3.example.test@evil.test",
        "user:pass@s3.example.test",
        "evil.test/s3.example.test",
        "s3.example.test/",
        "evil.test\\s3.example.test",
        "evil.test#s3.example.test",
        "evil.test?.s3.example.test",
        "s3.example.test ",
        "s3.example .test",
        "s3.example.test\t",
        "s3.example.test:",
        "s3.example.test:99999",
        "s3.example.test:80:80",
        "s3.example.test:-1",
        "-s3.example.test",
        "s3..example.test",
        "a_b.s3.example.test",
        "999.1.1.1",
        "1.2.3",
        "[::1",
        "[::g]",
        "[::1]x",
        "[fe80::1%eth0]",
        "bücket.s3.example.test",
        "",
        ".",
    ],
)
def test_refused_hosts(host: str) -> None:
    assert WITH_DOMAIN.location(host, "/p") is None


@pytest.mark.parametrize("host", ["evil.test@x", "x/y", "x\\y", "x#y", "x?y", "x y", "x%2f"])
def test_junk_is_refused_even_without_a_base_domain(host: str) -> None:
    assert NO_DOMAIN.location(host, "/p") is None
