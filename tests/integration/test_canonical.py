"""One canonical view of the request: what a signature covers is exactly what is served.

Presigned URLs made by boto3 (SigV2 via botocore's HmacV1QueryAuth, SigV4 via
signature_version="s3v4"), then extended or altered the way an attacker who
holds the URL would: the server refuses, and nothing changes.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.integration.helpers import error_code, signed

BODY = b"the original body"
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _tagging_xml(value: str) -> bytes:
    return (
        f'<Tagging xmlns="{NS}"><TagSet><Tag><Key>owner</Key><Value>{value}</Value></Tag></TagSet></Tagging>'.encode()
    )


@pytest.fixture(params=["s3", "s3v4"])
def sigv(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _presign(server: Server, sigv: str, operation: str, **params: Any) -> str:
    url: str = server.client(signature_version=sigv).generate_presigned_url(operation, Params=params, ExpiresIn=300)
    assert ("AWSAccessKeyId=" in url) == (sigv == "s3")  # HmacV1QueryAuth, or SigV4 query auth
    return url


def _refused(response: httpx.Response, code: str = "InvalidArgument") -> None:
    assert response.status_code == 400, response.text
    assert error_code(response) == code


@pytest.fixture
def obj(s3: Any, bucket: str) -> tuple[str, str]:
    """A bucket holding `k` tagged owner=alice, and an upload in progress for `k`; returns (bucket, upload id)."""
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ContentType="text/plain", Tagging="owner=alice")
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    return bucket, upload_id


def _unchanged(s3: Any, bucket: str, upload_id: str) -> None:
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "owner", "Value": "alice"}]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload_id]


@pytest.mark.parametrize("extra", ["%74agging", "%61cl", "%75ploadId={upload}", "%72esponse-content-type=text/html"])
def test_encoded_subresource_on_presigned_get(
    server: Server, s3: Any, obj: tuple[str, str], sigv: str, extra: str
) -> None:
    bucket, upload_id = obj
    url = _presign(server, sigv, "get_object", Bucket=bucket, Key="k")
    encoded = extra.format(upload=upload_id)
    _refused(httpx.get(f"{url}&{encoded}"))
    # Spelled plainly, the name is part of what either signature covers.
    response = httpx.get(f"{url}&{unquote(encoded)}")
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    good = httpx.get(url)
    assert (good.status_code, good.content, good.headers["content-type"]) == (200, BODY, "text/plain")
    _unchanged(s3, bucket, upload_id)


def test_encoded_tagging_on_presigned_put(server: Server, s3: Any, obj: tuple[str, str], sigv: str) -> None:
    bucket, upload_id = obj
    url = _presign(server, sigv, "put_object", Bucket=bucket, Key="k")
    _refused(httpx.put(f"{url}&%74agging", content=_tagging_xml("mallory")))
    _unchanged(s3, bucket, upload_id)
    assert httpx.put(url, content=b"replaced").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"replaced"


def test_encoded_upload_id_on_presigned_delete(server: Server, s3: Any, obj: tuple[str, str], sigv: str) -> None:
    bucket, upload_id = obj
    url = _presign(server, sigv, "delete_object", Bucket=bucket, Key="k")
    _refused(httpx.delete(f"{url}&%75ploadId={upload_id}"))
    _unchanged(s3, bucket, upload_id)
    assert httpx.delete(url).status_code == 204
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]


def _pinned_presign(url: str, digest: str, method: str = "PUT") -> str:
    """A SigV4 presigned URL whose signed query pins X-Amz-Content-Sha256 to `digest`."""

    class Pinned(S3SigV4QueryAuth):
        def payload(self, request: Any) -> str:
            return digest

    sep = "&" if "?" in url else "?"
    request = AWSRequest(method=method, url=f"{url}{sep}X-Amz-Content-Sha256={digest}")
    Pinned(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", expires=300).add_auth(request)
    signed_url: str = request.prepare().url
    return signed_url


def test_pinned_digest_presigned_put(server: Server, s3: Any, bucket: str) -> None:
    url = _pinned_presign(f"{server.url}/{bucket}/pinned", hashlib.sha256(BODY).hexdigest())
    _refused(httpx.put(url, content=b"another body"), "XAmzContentSHA256Mismatch")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="pinned")
    assert httpx.put(url, content=BODY).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="pinned")["Body"].read() == BODY


def test_pinned_digest_covers_xml_bodies(server: Server, s3: Any, obj: tuple[str, str]) -> None:
    bucket, upload_id = obj
    wanted = _tagging_xml("bob")
    url = _pinned_presign(f"{server.url}/{bucket}/k?tagging", hashlib.sha256(wanted).hexdigest())
    _refused(httpx.put(url, content=_tagging_xml("eve")), "XAmzContentSHA256Mismatch")
    _unchanged(s3, bucket, upload_id)
    assert httpx.put(url, content=wanted).status_code == 200
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "owner", "Value": "bob"}]


def test_signed_payload_digest_covers_xml_bodies(server: Server, s3: Any, obj: tuple[str, str]) -> None:
    """Header SigV4 with a payload digest: an XML body other than the signed one is refused."""
    bucket, upload_id = obj
    request = AWSRequest(method="PUT", url=f"{server.url}/{bucket}/k?tagging", data=_tagging_xml("bob"))
    request.context["payload_signing_enabled"] = True
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    headers = dict(request.prepare().headers)
    _refused(httpx.put(request.url, content=_tagging_xml("eve"), headers=headers), "XAmzContentSHA256Mismatch")
    _unchanged(s3, bucket, upload_id)


def test_plus_in_signed_query_is_a_plus(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a+b/plus", Body=b"1")
    s3.put_object(Bucket=bucket, Key="a b/space", Body=b"2")
    response = signed("GET", f"{server.url}/{bucket}?list-type=2&prefix=a+b")  # signed as sent: `+`
    assert response.status_code == 200, response.text
    assert b"<Key>a+b/plus</Key>" in response.content
    assert b"a b/space" not in response.content
    spaced = signed("GET", f"{server.url}/{bucket}?list-type=2&prefix=a%20b")
    assert b"<Key>a b/space</Key>" in spaced.content
    assert b"a+b/plus" not in spaced.content


def test_anonymous_response_overrides_refused(server: Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public", Body=BODY, ACL="public-read", ContentType="text/plain")
    url = f"{server.url}/{bucket}/public"
    assert httpx.get(url).content == BODY  # anonymous reads are allowed here
    for query in ("response-content-type=text/html", "response-content-disposition=attachment"):
        _refused(httpx.get(f"{url}?{query}"), "InvalidRequest")
        assert httpx.head(f"{url}?{query}").status_code == 400
    # A signed request may still choose them.
    presigned = _presign(server, "s3v4", "get_object", Bucket=bucket, Key="public", ResponseContentType="text/csv")
    assert httpx.get(presigned).headers["content-type"] == "text/csv"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("ResponseContentType", "text/plain\r\nSet-Cookie: a=b"),
        ("ResponseContentType", "text/plain\nX: 1"),
        ("ResponseContentDisposition", "attachment\rx"),
        ("ResponseContentType", "t\x01ext/plain"),
        ("ResponseContentType", "tëxt/plain"),
        ("ResponseContentDisposition", "attachment; filename=漢字.txt"),
        ("ResponseCacheControl", "no-cache\x7f"),
    ],
)
def test_bad_override_values(server: Server, s3: Any, bucket: str, sigv: str, param: str, value: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    url = _presign(server, sigv, "get_object", Bucket=bucket, Key="k", **{param: value})
    response = httpx.get(url)
    _refused(response)
    assert b"<ArgumentName>response-" in response.content
    assert "set-cookie" not in response.headers
    head = _presign(server, sigv, "head_object", Bucket=bucket, Key="k", **{param: value})
    assert httpx.head(head).status_code == 400
    fine = _presign(
        server, sigv, "get_object", Bucket=bucket, Key="k", ResponseContentDisposition='attachment; filename="a&b.txt"'
    )
    response = httpx.get(fine)
    assert response.headers["content-disposition"] == 'attachment; filename="a&b.txt"'


def test_v2_signed_subresources_cannot_be_folded_into_one_value(server: Server, s3: Any, bucket: str) -> None:
    """SigV2 signs values unescaped: `a%26response-content-type%3Dx` as one value signs like two pairs."""
    s3.put_object(Bucket=bucket, Key="page", Body=b"<script>", ContentType="text/html")
    url = _presign(
        server,
        "s3",
        "get_object",
        Bucket=bucket,
        Key="page",
        ResponseContentDisposition="attachment",
        ResponseContentType="application/octet-stream",
    )
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if not part.startswith("response-")]
    folded = "response-content-disposition=attachment%26response-content-type%3Dapplication%2Foctet-stream"
    _refused(httpx.get(f"{base}?{folded}&{'&'.join(kept)}"))
    good = httpx.get(url)
    assert good.headers["content-type"] == "application/octet-stream"
    assert good.headers["content-disposition"] == "attachment"
