"""Encryption at rest over HTTP: SSE-S3, SSE-KMS and SSE-C with boto3, the bytes on disk,
ranges, part reads, multipart, copies between modes and bucket default encryption."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, Server
from tests.integration.helpers import client_error, signed

pytestmark = pytest.mark.both_metadata

MiB = 1024 * 1024
CUSTOMER_KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ARN = "arn:aws:kms:us-east-1:000000000000:key/app"


def b64key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from smarts3.config.settings import Settings
    from smarts3.pytest_plugin import serving

    root = tmp_path_factory.mktemp("sse")
    keys = root / "keys.json"
    keys.write_text(json.dumps({"masterKeys": [{"id": "m1", "key": b64key()}],
                                "kmsKeys": [{"id": "app", "key": b64key()}]}))
    settings = Settings(data_dir=root / "data", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        sse_master_keys_file=keys, sse_c_allow_http=True)
    with serving(settings) as url:
        yield Server(url, root / "data")


@pytest.fixture
def c(sse_server: Server) -> Any:
    return sse_server.client()


@pytest.fixture
def bkt(c: Any) -> str:
    name = f"e-{uuid.uuid4().hex[:16]}"
    c.create_bucket(Bucket=name)
    return name


def body(size: int, marker: bytes = b"") -> bytes:
    data = marker + os.urandom(size - 2 * len(marker)) + marker
    assert len(data) == size
    return data


def ssec(key: bytes = CUSTOMER_KEY, prefix: str = "SSECustomer") -> dict[str, str]:
    return {
        f"{prefix}Algorithm": "AES256", f"{prefix}Key": base64.b64encode(key).decode(),
        f"{prefix}KeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}


def on_disk(data_dir: Path, needle: bytes) -> bool:
    for folder, _, files in os.walk(data_dir):
        for name in files:
            path = Path(folder) / name
            if path.suffix in (".db", ".db-wal", ".db-shm"):
                continue
            if needle in path.read_bytes():
                return True
    return False


def spy_on_fast_read(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The arguments of every attempt of the GET/HEAD fast path (fast_read._prepare) from now on."""
    from smarts3.s3 import fast_read

    tried: list[object] = []
    prepare = fast_read._prepare

    async def counted(*args: Any) -> Any:
        tried.append(args)
        return await prepare(*args)

    monkeypatch.setattr(fast_read, "_prepare", counted)
    return tried


def test_sse_s3_put_get_range_and_the_bytes_on_disk(sse_server: Server, c: Any, bkt: str) -> None:
    marker = b"PLAINTEXT-MARKER-" + uuid.uuid4().hex.encode()
    data = body(300_000, marker)
    put = c.put_object(Bucket=bkt, Key="k", Body=data, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'  # SSE-S3 keeps the MD5 ETag
    got = c.get_object(Bucket=bkt, Key="k")
    assert got["ServerSideEncryption"] == "AES256" and got["ContentLength"] == len(data)
    assert got["Body"].read() == data
    # A range across a 64 KiB chunk boundary, and one inside the last chunk.
    part = c.get_object(Bucket=bkt, Key="k", Range="bytes=65530-131080")
    assert part["Body"].read() == data[65530:131081]
    assert c.get_object(Bucket=bkt, Key="k", Range="bytes=-7")["Body"].read() == data[-7:]
    assert c.head_object(Bucket=bkt, Key="k")["ServerSideEncryption"] == "AES256"
    assert [o["Size"] for o in c.list_objects_v2(Bucket=bkt)["Contents"]] == [len(data)]
    assert not on_disk(sse_server.data_dir, marker)
    # The search would find a plain body: the marker is really absent, not unsearched.
    c.put_object(Bucket=bkt, Key="plain", Body=data)
    assert on_disk(sse_server.data_dir, marker)
    assert "ServerSideEncryption" not in c.head_object(Bucket=bkt, Key="plain")


def test_sse_kms_with_a_named_key_default_key_and_unknown_key(c: Any, bkt: str) -> None:
    data = body(1000)
    put = c.put_object(Bucket=bkt, Key="k", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId="app",
                       BucketKeyEnabled=True)
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"], put["BucketKeyEnabled"]) == ("aws:kms", ARN, True)
    assert put["ETag"] != f'"{hashlib.md5(data).hexdigest()}"'  # as AWS: not the MD5 of the plaintext
    got = c.get_object(Bucket=bkt, Key="k")
    assert (got["SSEKMSKeyId"], got["BucketKeyEnabled"], got["ETag"]) == (ARN, True, put["ETag"])
    assert got["Body"].read() == data
    by_arn = c.put_object(Bucket=bkt, Key="arn", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=ARN)
    assert by_arn["SSEKMSKeyId"] == ARN
    default = c.put_object(Bucket=bkt, Key="d", Body=b"x", ServerSideEncryption="aws:kms")
    assert default["SSEKMSKeyId"].endswith(":alias/aws/s3")
    context = base64.b64encode(json.dumps({"team": "a"}).encode()).decode()
    with_context = c.put_object(Bucket=bkt, Key="ctx", Body=b"x", ServerSideEncryption="aws:kms",
                                SSEKMSEncryptionContext=context)
    assert with_context["SSEKMSEncryptionContext"] == context
    with pytest.raises(ClientError) as err:
        c.put_object(Bucket=bkt, Key="u", Body=b"", ServerSideEncryption="aws:kms", SSEKMSKeyId="nope")
    assert client_error(err.value) == ("KMS.NotFoundException", 400)
    assert err.value.response["Error"]["Message"] == "Invalid keyId nope"  # as AWS words it
    with pytest.raises(ClientError) as err:
        c.put_object(Bucket=bkt, Key="u", Body=b"", ServerSideEncryption="aws:kms",
                     SSEKMSEncryptionContext="not base64 json")
    assert client_error(err.value) == ("InvalidArgument", 400)
    assert [o["Key"] for o in c.list_objects_v2(Bucket=bkt)["Contents"]] == ["arn", "ctx", "d", "k"]


def test_sse_c_needs_the_right_key_on_every_read(c: Any, bkt: str) -> None:
    data = body(200_000)
    put = c.put_object(Bucket=bkt, Key="k", Body=data, **ssec())
    md5 = base64.b64encode(hashlib.md5(CUSTOMER_KEY).digest()).decode()
    assert (put["SSECustomerAlgorithm"], put["SSECustomerKeyMD5"]) == ("AES256", md5)
    assert put["ETag"] != f'"{hashlib.md5(data).hexdigest()}"'
    assert c.get_object(Bucket=bkt, Key="k", **ssec())["Body"].read() == data
    ranged = c.get_object(Bucket=bkt, Key="k", Range="bytes=100000-100009", **ssec())
    assert ranged["Body"].read() == data[100000:100010]
    assert c.head_object(Bucket=bkt, Key="k", **ssec())["SSECustomerKeyMD5"] == md5
    for call in (c.get_object, c.head_object):
        with pytest.raises(ClientError) as err:
            call(Bucket=bkt, Key="k")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError) as err:
            call(Bucket=bkt, Key="k", **ssec(OTHER_KEY))
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as err:
        c.get_object(Bucket=bkt, Key="k")
    assert client_error(err.value) == ("InvalidRequest", 400)


def test_sse_c_header_errors(sse_server: Server, bkt: str) -> None:
    url = f"{sse_server.url}/{bkt}/k"
    key = base64.b64encode(CUSTOMER_KEY).decode()
    md5 = base64.b64encode(hashlib.md5(CUSTOMER_KEY).digest()).decode()
    h = "x-amz-server-side-encryption-customer-"
    cases = [
        ({h + "algorithm": "AES256", h + "key": key, h + "key-MD5": base64.b64encode(b"0" * 16).decode()},
         "InvalidArgument"),
        ({h + "algorithm": "AES128", h + "key": key, h + "key-MD5": md5}, "InvalidEncryptionAlgorithmError"),
        ({h + "algorithm": "AES256", h + "key-MD5": md5}, "InvalidArgument"),
        ({h + "algorithm": "AES256", h + "key": base64.b64encode(b"short").decode(), h + "key-MD5": md5},
         "InvalidArgument"),
        ({h + "algorithm": "AES256", h + "key": key, h + "key-MD5": md5,
          "x-amz-server-side-encryption": "AES256"}, "InvalidArgument"),
        ({"x-amz-server-side-encryption": "AES128"}, "InvalidArgument"),
        ({"x-amz-server-side-encryption-aws-kms-key-id": "app"}, "InvalidArgument"),
    ]
    for headers, code in cases:
        response = signed("PUT", url, body=b"data", headers=headers)
        assert response.status_code == 400, (headers, response.text)
        assert f"<Code>{code}</Code>" in response.text, (headers, response.text)
    assert signed("GET", f"{sse_server.url}/{bkt}?list-type=2").text.count("<Key>") == 0


def test_sse_c_over_plain_http_is_refused_by_default(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"", **ssec())
    assert client_error(err.value) == ("InvalidRequest", 400)
    assert "secure connection" in err.value.response["Error"]["Message"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


MODES: dict[str, dict[str, Any]] = {
    "sse-s3": {"ServerSideEncryption": "AES256"},
    "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "app"},
    "sse-c": ssec(),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_multipart_in_every_mode(c: Any, bkt: str, mode: str) -> None:
    create = MODES[mode]
    part_args = ssec() if mode == "sse-c" else {}
    read_args = part_args
    parts_data = [body(5 * MiB), body(5 * MiB), body(100_000)]
    upload = c.create_multipart_upload(Bucket=bkt, Key="mp", **create)
    etags = []
    for n, data in enumerate(parts_data, 1):
        answer = c.upload_part(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=data,
                               **part_args)
        md5 = f'"{hashlib.md5(data).hexdigest()}"'
        assert (answer["ETag"] == md5) == (mode == "sse-s3")
        etags.append(answer["ETag"])
    listed = c.list_parts(Bucket=bkt, Key="mp", UploadId=upload["UploadId"])["Parts"]
    assert [(p["ETag"], p["Size"]) for p in listed] == [(e, len(d)) for e, d in zip(etags, parts_data, strict=True)]
    done = c.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    assert done["ETag"].endswith('-3"')
    whole = b"".join(parts_data)
    got = c.get_object(Bucket=bkt, Key="mp", **read_args)
    assert got["Body"].read() == whole
    assert got["ContentLength"] == len(whole)
    if mode != "sse-c":
        assert got["ServerSideEncryption"] == create["ServerSideEncryption"]
    across = c.get_object(Bucket=bkt, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}", **read_args)
    assert across["Body"].read() == whole[5 * MiB - 10 : 5 * MiB + 10]
    second = c.get_object(Bucket=bkt, Key="mp", PartNumber=2, **read_args)
    assert second["Body"].read() == parts_data[1] and second["PartsCount"] == 3
    attrs = c.get_object_attributes(Bucket=bkt, Key="mp", ObjectAttributes=["ObjectSize", "ObjectParts", "ETag"],
                                    **read_args)
    assert attrs["ObjectSize"] == len(whole) and attrs["ObjectParts"]["TotalPartsCount"] == 3
    if mode == "sse-c":  # as HEAD: the customer key is needed for the metadata too
        with pytest.raises(ClientError) as err:
            c.get_object_attributes(Bucket=bkt, Key="mp", ObjectAttributes=["ObjectSize"])
        assert client_error(err.value) == ("InvalidRequest", 400)


def test_sse_c_parts_must_bring_the_same_key(c: Any, bkt: str) -> None:
    upload = c.create_multipart_upload(Bucket=bkt, Key="mp", **ssec())
    for args, status in (({}, 400), (ssec(OTHER_KEY), 400)):
        with pytest.raises(ClientError) as err:
            c.upload_part(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"", **args)
        assert client_error(err.value) == ("InvalidRequest", status)
    c.upload_part(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"x", **ssec())


def test_copies_between_modes(c: Any, bkt: str) -> None:
    data = body(150_000)
    c.put_object(Bucket=bkt, Key="c", Body=data, **ssec())
    src = {"Bucket": bkt, "Key": "c"}
    with pytest.raises(ClientError) as err:  # the source key is needed to read an SSE-C source
        c.copy_object(Bucket=bkt, Key="s3", CopySource=src, ServerSideEncryption="AES256")
    assert client_error(err.value) == ("InvalidRequest", 400)
    to_s3 = c.copy_object(Bucket=bkt, Key="s3", CopySource=src, ServerSideEncryption="AES256",
                          **ssec(prefix="CopySourceSSECustomer"))
    assert to_s3["ServerSideEncryption"] == "AES256"
    assert to_s3["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    to_kms = c.copy_object(Bucket=bkt, Key="kms", CopySource={"Bucket": bkt, "Key": "s3"},
                           ServerSideEncryption="aws:kms", SSEKMSKeyId="app")
    assert to_kms["SSEKMSKeyId"] == ARN
    to_plain = c.copy_object(Bucket=bkt, Key="plain", CopySource={"Bucket": bkt, "Key": "kms"})
    assert "ServerSideEncryption" not in to_plain
    to_c = c.copy_object(Bucket=bkt, Key="c2", CopySource={"Bucket": bkt, "Key": "plain"}, **ssec(OTHER_KEY))
    assert to_c["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(OTHER_KEY).digest()).decode()
    # In place: re-encrypting an object onto itself is a change, so it is allowed.
    c.copy_object(Bucket=bkt, Key="plain", CopySource={"Bucket": bkt, "Key": "plain"}, ServerSideEncryption="AES256")
    assert c.head_object(Bucket=bkt, Key="plain")["ServerSideEncryption"] == "AES256"
    for key, args in (("s3", {}), ("kms", {}), ("plain", {}), ("c2", ssec(OTHER_KEY))):
        assert c.get_object(Bucket=bkt, Key=key, **args)["Body"].read() == data, key
    upload = c.create_multipart_upload(Bucket=bkt, Key="mp", ServerSideEncryption="AES256")
    copied = c.upload_part_copy(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], PartNumber=1,
                                CopySource=src, CopySourceRange="bytes=10-99",
                                **ssec(prefix="CopySourceSSECustomer"))
    c.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}]})
    assert c.get_object(Bucket=bkt, Key="mp")["Body"].read() == data[10:100]


def test_server_wide_forced_encryption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smarts3.config.settings import Settings
    from smarts3.pytest_plugin import serving

    settings = Settings(data_dir=tmp_path / "data", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        sse_master_key="m:" + b64key(), sse_force=True)
    with serving(settings) as url:
        c = Server(url, tmp_path / "data").client()
        c.create_bucket(Bucket="forced")
        put = c.put_object(Bucket="forced", Key="k", Body=b"no headers")
        assert put["ServerSideEncryption"] == "AES256"
        kms = c.put_object(Bucket="forced", Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
        assert kms["ServerSideEncryption"] == "aws:kms"  # what the request asks for still wins
        tried = spy_on_fast_read(monkeypatch)
        assert c.get_object(Bucket="forced", Key="k")["Body"].read() == b"no headers"
        assert tried == []  # every object is encrypted: straight to the generic path, no second read
        assert not on_disk(tmp_path / "data", b"no headers")


def test_bucket_default_encryption_skips_the_fast_read(c: Any, bkt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a bucket that encrypts by default, a plain GET goes straight to the generic path: the
    fast path would authenticate, authorize and read the row only to find it encrypted."""
    from smarts3.s3 import fast_read

    c.put_object(Bucket=bkt, Key="before", Body=b"written before the default")
    tried = spy_on_fast_read(monkeypatch)
    served = fast_read.served
    assert c.get_object(Bucket=bkt, Key="before")["Body"].read() == b"written before the default"
    assert (len(tried), fast_read.served) == (1, served + 1)  # no default: the fast path serves it
    c.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    c.put_object(Bucket=bkt, Key="k", Body=b"by default")
    tried.clear()
    assert c.get_object(Bucket=bkt, Key="k")["Body"].read() == b"by default"
    assert c.head_object(Bucket=bkt, Key="k")["ServerSideEncryption"] == "AES256"
    # An object from before the default is answered the same, by the generic path.
    assert c.get_object(Bucket=bkt, Key="before")["Body"].read() == b"written before the default"
    assert tried == []
    c.delete_bucket_encryption(Bucket=bkt)  # a bucket-level write: this worker reads the bucket again
    assert c.get_object(Bucket=bkt, Key="before")["Body"].read() == b"written before the default"
    assert len(tried) == 1


def test_bucket_default_encryption(c: Any, bkt: str) -> None:
    with pytest.raises(ClientError) as err:
        c.get_bucket_encryption(Bucket=bkt)
    assert client_error(err.value) == ("ServerSideEncryptionConfigurationNotFoundError", 404)
    c.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "app"},
         "BucketKeyEnabled": True}]})
    rule = c.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule == {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "app"},
                    "BucketKeyEnabled": True}
    put = c.put_object(Bucket=bkt, Key="k", Body=b"by default")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"], put["BucketKeyEnabled"]) == ("aws:kms", ARN, True)
    explicit = c.put_object(Bucket=bkt, Key="e", Body=b"x", ServerSideEncryption="AES256")
    assert explicit["ServerSideEncryption"] == "AES256"
    c.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    assert c.put_object(Bucket=bkt, Key="k2", Body=b"x")["ServerSideEncryption"] == "AES256"
    upload = c.create_multipart_upload(Bucket=bkt, Key="mp")
    assert upload["ServerSideEncryption"] == "AES256"
    with pytest.raises(ClientError) as err:
        c.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "app"}}]})
    assert client_error(err.value) == ("InvalidArgument", 400)
    c.delete_bucket_encryption(Bucket=bkt)
    with pytest.raises(ClientError) as err:
        c.get_bucket_encryption(Bucket=bkt)
    assert client_error(err.value) == ("ServerSideEncryptionConfigurationNotFoundError", 404)
    assert "ServerSideEncryption" not in c.put_object(Bucket=bkt, Key="k3", Body=b"x")
    assert c.get_object(Bucket=bkt, Key="k")["Body"].read() == b"by default"


# --- the AWS CLI ---------------------------------------------------------------------------------


def test_aws_cli_cp_in_every_mode(sse_server: Server, bkt: str, tmp_path: Path) -> None:
    from tests.integration.test_cli import aws

    src = tmp_path / "src"
    src.mkdir()
    (src / "small").write_bytes(body(200_000))
    (src / "large").write_bytes(body(6 * MiB))
    config = tmp_path / "config"  # multipart from 5 MiB: "large" goes up in two parts
    config.write_text("[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n")
    cust_key = "K" * 32  # the CLI takes the raw 32-byte key and encodes it itself
    modes = {
        "s3": (["--sse", "AES256"], []),
        "kms": (["--sse", "aws:kms", "--sse-kms-key-id", "app"], []),
        "c": (["--sse-c", "AES256", "--sse-c-key", cust_key], ["--sse-c", "AES256", "--sse-c-key", cust_key]),
    }
    c = sse_server.client()
    for mode, (up, down) in modes.items():
        aws(sse_server, "s3", "cp", "--recursive", str(src), f"s3://{bkt}/{mode}/", *up, config=config)
        back = tmp_path / mode
        aws(sse_server, "s3", "cp", "--recursive", f"s3://{bkt}/{mode}/", str(back), *down, config=config)
        for name in ("small", "large"):
            assert (back / name).read_bytes() == (src / name).read_bytes(), (mode, name)
            if mode == "c":
                head = c.head_object(Bucket=bkt, Key=f"c/{name}", SSECustomerAlgorithm="AES256",
                                     SSECustomerKey=cust_key)
                assert head["SSECustomerAlgorithm"] == "AES256"
            else:
                head = c.head_object(Bucket=bkt, Key=f"{mode}/{name}")
                assert head["ServerSideEncryption"] == up[1]
                assert head.get("SSEKMSKeyId") == (ARN if mode == "kms" else None)
            assert head["ContentLength"] == (src / name).stat().st_size
            assert head["ETag"].endswith('-2"') == (name == "large")
    # A range read across the part boundary through s3api; a download without the SSE-C key is refused.
    out = tmp_path / "range"
    ranged = aws(sse_server, "s3api", "get-object", "--bucket", bkt, "--key", "c/large",
                 "--range", f"bytes={5 * MiB - 50}-{5 * MiB + 50}", "--sse-customer-algorithm", "AES256",
                 "--sse-customer-key", cust_key, str(out))
    assert json.loads(ranged.stdout)["ContentLength"] == 101
    assert out.read_bytes() == (src / "large").read_bytes()[5 * MiB - 50 : 5 * MiB + 51]
    refused = aws(sse_server, "s3", "cp", f"s3://{bkt}/c/small", str(tmp_path / "x"), check=False)
    assert refused.returncode != 0 and "400" in refused.stderr


# --- integrity -----------------------------------------------------------------------------------


def sealed_file(data_dir: Path, size: int) -> Path:
    """The one body file of a sealed single-PUT object of `size` bytes (sizes in these tests are unique)."""
    sealed = 16 + size + max(1, -(-size // 65536)) * 16
    found = [Path(d) / n for d, _, files in os.walk(data_dir) for n in files
             if (Path(d) / n).stat().st_size == sealed]
    assert len(found) == 1, found
    return found[0]


def flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_a_flipped_byte_on_disk_is_never_served(sse_server: Server, c: Any, bkt: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    small, large = body(100_003), body(3 * MiB + 5)
    c.put_object(Bucket=bkt, Key="small", Body=small, ServerSideEncryption="AES256")
    c.put_object(Bucket=bkt, Key="large", Body=large, ServerSideEncryption="AES256")
    flip(sealed_file(sse_server.data_dir, len(small)), 16 + 70_000)  # inside the second chunk
    flip(sealed_file(sse_server.data_dir, len(large)), 16 + (2 * MiB + 300_000) // 65536 * (65536 + 16) + 99)
    url = f"{sse_server.url}/{bkt}"
    with caplog.at_level("ERROR", logger="smarts3"):
        for target, headers in (("small", {}), ("large", {"range": f"bytes={2 * MiB + 290_000}-"})):
            response = signed("GET", f"{url}/{target}", headers=headers)
            assert response.status_code == 500, response.text
            assert "<Code>InternalError</Code>" in response.text and "Traceback" not in response.text
    assert "integrity error" in caplog.text
    # Chunks are independent: what is intact is still served, ranges of both objects included.
    assert c.get_object(Bucket=bkt, Key="small", Range="bytes=0-65535")["Body"].read() == small[:65536]
    assert c.get_object(Bucket=bkt, Key="large", Range="bytes=0-999")["Body"].read() == large[:1000]
    # A whole GET starts streaming before it reaches the bad chunk: the connection is cut there.
    received = b""
    request = httpx.Request("GET", f"{url}/large")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    aws_request = AWSRequest(method="GET", url=f"{url}/large")
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(aws_request)
    request = httpx.Request("GET", f"{url}/large", headers=dict(aws_request.prepare().headers))
    with httpx.Client(timeout=30) as client:
        response = client.send(request, stream=True)
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            for chunk in response.iter_raw():
                received += chunk
    assert len(received) < len(large)
    assert large.startswith(received)  # every byte that went out was right


def test_versions_keep_their_own_encryption(c: Any, bkt: str) -> None:
    c.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    v1 = c.put_object(Bucket=bkt, Key="k", Body=b"first", **ssec())["VersionId"]
    v2 = c.put_object(Bucket=bkt, Key="k", Body=b"second", ServerSideEncryption="aws:kms", SSEKMSKeyId="app")
    assert c.get_object(Bucket=bkt, Key="k")["Body"].read() == b"second"
    assert c.get_object(Bucket=bkt, Key="k", VersionId=v1, **ssec())["Body"].read() == b"first"
    with pytest.raises(ClientError) as err:
        c.get_object(Bucket=bkt, Key="k", VersionId=v1)
    assert client_error(err.value) == ("InvalidRequest", 400)
    listed = c.list_object_versions(Bucket=bkt)["Versions"]
    assert sorted(v["Size"] for v in listed) == [5, 6] and v2["SSEKMSKeyId"] == ARN
