"""The public access block setting and document."""

from __future__ import annotations

import pytest

from smarts3.access import pab
from smarts3.s3.errors import S3Error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", pab.NONE),
        ("", pab.NONE),
        ("all", pab.ALL),
        ("BlockPublicAcls", pab.Block(block_public_acls=True)),
        ("block_public_policy, restrict-public-buckets", pab.Block(block_public_policy=True,
                                                                   restrict_public_buckets=True)),
    ],
)
def test_setting(text: str, expected: pab.Block) -> None:
    assert pab.from_setting(text) == expected


def test_unknown_flag_is_named() -> None:
    with pytest.raises(ValueError, match="'BlockEverything'"):
        pab.from_setting("BlockEverything")


def test_a_bucket_adds_to_the_server_never_lifts() -> None:
    assert pab.Block(block_public_acls=True) | pab.Block(ignore_public_acls=True) == pab.Block(True, True)
    assert pab.ALL | pab.NONE == pab.ALL


def test_document_round_trip_and_absent_flags_are_false() -> None:
    block = pab.parse_xml(b"<PublicAccessBlockConfiguration><IgnorePublicAcls>true</IgnorePublicAcls>"
                          b"</PublicAccessBlockConfiguration>")
    assert block == pab.Block(ignore_public_acls=True)
    assert pab.parse_xml(pab.to_xml(block)) == block
    assert pab.stored({pab.PAB_KEY: pab.dumps(block)}) == block
    assert pab.stored({}) is None


@pytest.mark.parametrize("body", [b"<Other/>", b"<PublicAccessBlockConfiguration><Bogus>true</Bogus>"
                                  b"</PublicAccessBlockConfiguration>"])
def test_bad_documents(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        pab.parse_xml(body)
    assert exc.value.code == "MalformedXML"
