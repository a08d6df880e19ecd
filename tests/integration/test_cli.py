"""The AWS CLI (v1, from the venv) against the real server: `aws s3`, `aws s3api`, presign."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

MiB = 1024 * 1024


def aws(server: Any, *args: str, config: Path | None = None, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert exe, "the AWS CLI is not installed next to the interpreter"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(config or os.devnull),
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    done = subprocess.run([exe, "--endpoint-url", server.url, "--output", "json", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, f"aws {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def api(server: Any, *args: str) -> Any:
    out = aws(server, "s3api", *args).stdout
    return json.loads(out) if out.strip() else {}


@pytest.fixture
def cli_bucket(server: Any, s3: Any) -> str:
    name = f"t-cli-{uuid.uuid4().hex[:12]}"
    aws(server, "s3", "mb", f"s3://{name}")
    s3.head_bucket(Bucket=name)
    return name


def test_s3_mb_cp_ls_sync_rm_rb(server: Any, s3: Any, cli_bucket: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    files = {"a.txt": b"alpha", "sub/b.txt": b"bravo", "sub/deeper/c.bin": os.urandom(3000),
             "sp ace/d é.txt": b"unicode and space", "e.json": b"{}"}
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)

    aws(server, "s3", "cp", str(tree / "a.txt"), f"s3://{cli_bucket}/single/a.txt")
    assert s3.get_object(Bucket=cli_bucket, Key="single/a.txt")["Body"].read() == b"alpha"
    listing = aws(server, "s3", "ls", f"s3://{cli_bucket}/single/").stdout
    assert "a.txt" in listing and " 5 " in listing

    aws(server, "s3", "sync", str(tree), f"s3://{cli_bucket}/synced")
    keys = {c["Key"] for c in s3.list_objects_v2(Bucket=cli_bucket, Prefix="synced/")["Contents"]}
    assert keys == {f"synced/{rel}" for rel in files}
    for rel, data in files.items():
        assert s3.get_object(Bucket=cli_bucket, Key=f"synced/{rel}")["Body"].read() == data

    recursive = aws(server, "s3", "ls", "--recursive", f"s3://{cli_bucket}/").stdout
    for rel in files:
        assert f"synced/{rel}" in recursive
    top = aws(server, "s3", "ls", f"s3://{cli_bucket}/synced/").stdout
    assert "PRE sub/" in top and "PRE sp ace/" in top and "a.txt" in top

    # A second sync uploads nothing; after a change it uploads just that file.
    again = aws(server, "s3", "sync", str(tree), f"s3://{cli_bucket}/synced").stdout
    assert "upload:" not in again
    (tree / "a.txt").write_bytes(b"alpha, changed")
    changed = aws(server, "s3", "sync", str(tree), f"s3://{cli_bucket}/synced").stdout
    assert changed.count("upload:") == 1
    assert s3.get_object(Bucket=cli_bucket, Key="synced/a.txt")["Body"].read() == b"alpha, changed"

    down = tmp_path / "down"
    aws(server, "s3", "sync", f"s3://{cli_bucket}/synced", str(down))
    for rel in files:
        assert (down / rel).read_bytes() == (tree / rel).read_bytes()

    aws(server, "s3", "rm", "--recursive", f"s3://{cli_bucket}/")
    assert "Contents" not in s3.list_objects_v2(Bucket=cli_bucket)
    aws(server, "s3", "rb", f"s3://{cli_bucket}")
    assert aws(server, "s3api", "head-bucket", "--bucket", cli_bucket, check=False).returncode != 0


def test_rb_refuses_a_non_empty_bucket(server: Any, s3: Any, cli_bucket: str) -> None:
    s3.put_object(Bucket=cli_bucket, Key="k", Body=b"x")
    refused = aws(server, "s3", "rb", f"s3://{cli_bucket}", check=False)
    assert refused.returncode != 0
    assert "BucketNotEmpty" in refused.stderr
    aws(server, "s3", "rb", "--force", f"s3://{cli_bucket}")
    assert cli_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_cp_20_mib_up_and_down(server: Any, s3: Any, cli_bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    aws(server, "s3", "cp", str(source), f"s3://{cli_bucket}/big.bin")
    head = s3.head_object(Bucket=cli_bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # 8 MiB parts: multipart by the CLI's default threshold
    back = tmp_path / "back.bin"
    aws(server, "s3", "cp", f"s3://{cli_bucket}/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_s3api_object_commands(server: Any, s3: Any, cli_bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_bytes(b"hello from s3api")
    put = api(server, "put-object", "--bucket", cli_bucket, "--key", "dir/obj.txt", "--body",
              str(body), "--content-type", "text/plain", "--metadata", "colour=blue")
    expected_etag = '"' + hashlib.md5(b"hello from s3api").hexdigest() + '"'
    assert put["ETag"] == expected_etag

    head = api(server, "head-object", "--bucket", cli_bucket, "--key", "dir/obj.txt")
    assert head["ContentLength"] == 16
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"colour": "blue"}
    assert head["ETag"] == expected_etag

    out = tmp_path / "out.txt"
    got = api(server, "get-object", "--bucket", cli_bucket, "--key", "dir/obj.txt",
              "--range", "bytes=0-4", str(out))
    assert out.read_bytes() == b"hello"
    assert got["ContentRange"] == "bytes 0-4/16"

    copied = api(server, "copy-object", "--bucket", cli_bucket, "--key", "copy.txt",
                 "--copy-source", f"{cli_bucket}/dir/obj.txt")
    assert copied["CopyObjectResult"]["ETag"] == expected_etag
    assert s3.get_object(Bucket=cli_bucket, Key="copy.txt")["Body"].read() == b"hello from s3api"

    listed = api(server, "list-objects-v2", "--bucket", cli_bucket)
    assert [c["Key"] for c in listed["Contents"]] == ["copy.txt", "dir/obj.txt"]
    grouped = api(server, "list-objects-v2", "--bucket", cli_bucket, "--delimiter", "/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["dir/"]
    assert [c["Key"] for c in grouped["Contents"]] == ["copy.txt"]

    api(server, "put-object-tagging", "--bucket", cli_bucket, "--key", "copy.txt", "--tagging",
        json.dumps({"TagSet": [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "ci"}]}))
    tags = api(server, "get-object-tagging", "--bucket", cli_bucket, "--key", "copy.txt")
    assert sorted((t["Key"], t["Value"]) for t in tags["TagSet"]) == [
        ("env", "ci"), ("team", "storage")]
    assert s3.get_object_tagging(Bucket=cli_bucket, Key="copy.txt")["TagSet"]

    deleted = api(server, "delete-objects", "--bucket", cli_bucket, "--delete", json.dumps(
        {"Objects": [{"Key": "copy.txt"}, {"Key": "dir/obj.txt"}, {"Key": "never-existed"}]}))
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["copy.txt", "dir/obj.txt",
                                                             "never-existed"]
    assert "Contents" not in s3.list_objects_v2(Bucket=cli_bucket)


def test_s3api_errors_are_reported(server: Any, cli_bucket: str) -> None:
    missing = aws(server, "s3api", "head-object", "--bucket", cli_bucket, "--key", "nope",
                  check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr
    nosuch = aws(server, "s3api", "get-object", "--bucket", cli_bucket, "--key", "nope",
                 os.devnull, check=False)
    assert "NoSuchKey" in nosuch.stderr


def test_presign_sigv2_default(server: Any, s3: Any, cli_bucket: str) -> None:
    s3.put_object(Bucket=cli_bucket, Key="shared/file.txt", Body=b"presigned body")
    url = aws(server, "s3", "presign", f"s3://{cli_bucket}/shared/file.txt",
              "--expires-in", "600").stdout.strip()
    assert url.startswith(server.url)
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == b"presigned body"
    tampered = url.replace("shared/file.txt", "shared/other.txt")
    assert httpx.get(tampered, timeout=30).status_code == 403


def test_presign_sigv4_from_config(server: Any, s3: Any, cli_bucket: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    signature_version = s3v4\n")
    s3.put_object(Bucket=cli_bucket, Key="v4.txt", Body=b"signed with v4")
    url = aws(server, "s3", "presign", f"s3://{cli_bucket}/v4.txt", "--region", "us-east-1",
              config=config).stdout.strip()
    assert "X-Amz-Signature=" in url and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == b"signed with v4"
    broken = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    denied = httpx.get(broken, timeout=30)
    assert denied.status_code == 403
    assert b"SignatureDoesNotMatch" in denied.content


def test_auth_none_accepts_any_key_like_localstack(tmp_path: Path) -> None:
    """--auth none: AWS_ACCESS_KEY_ID=test (any key, any signature) acts as root; aws-chunked still decodes."""
    import base64
    import zlib
    from types import SimpleNamespace

    from tests.conftest import Server, server_output, start_subprocess_server
    from tests.integration import chunked

    proc, url = start_subprocess_server(tmp_path / "data", "--auth", "none")
    try:
        anyone = SimpleNamespace(url=url, access_key="test", secret_key="test")
        s3 = Server(url, tmp_path / "data", access_key="test", secret_key="test").client()
        s3.create_bucket(Bucket="dev")
        s3.put_object(Bucket="dev", Key="plain.txt", Body=b"from boto3")
        assert s3.get_object(Bucket="dev", Key="plain.txt")["Body"].read() == b"from boto3"
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["dev"]

        # Signed aws-chunked bodies from a key the server does not know: decoded, not stored raw.
        data = os.urandom(150_000)
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        for key, mode, trailer in [
            ("signed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None),
            ("trailer", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", ("x-amz-checksum-crc32", crc)),
            ("unsigned", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", ("x-amz-checksum-crc32", crc)),
        ]:
            request = chunked.build(f"{url}/dev/{key}", data, mode, trailer=trailer,
                                    access_key="test", secret_key="test")
            response = httpx.put(request.url, headers=request.headers, content=request.body, timeout=30)
            assert response.status_code == 200, (key, response.text)
            assert s3.get_object(Bucket="dev", Key=key)["Body"].read() == data, key
        # A declared digest still protects the body.
        bad = chunked.build(f"{url}/dev/bad", data, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                            trailer=("x-amz-checksum-crc32", base64.b64encode(b"\0\0\0\0").decode()),
                            access_key="test", secret_key="test")
        assert httpx.put(bad.url, headers=bad.headers, content=bad.body, timeout=30).status_code == 400

        # Presigned URLs signed with an unknown key, response overrides included (root may choose them).
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "dev", "Key": "pre.txt"})
        assert httpx.put(put_url, content=b"presigned").status_code == 200
        get_url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": "dev", "Key": "pre.txt", "ResponseContentType": "text/x-dev"})
        got = httpx.get(get_url)
        assert (got.status_code, got.content, got.headers["content-type"]) == (200, b"presigned", "text/x-dev")
        assert httpx.get(f"{url}/dev/pre.txt").content == b"presigned"  # unsigned, as before

        # The AWS CLI with the newcomer's AWS_ACCESS_KEY_ID=test.
        source = tmp_path / "cli.txt"
        source.write_bytes(b"from the aws cli")
        aws(anyone, "s3", "cp", str(source), "s3://dev/cli.txt")
        assert "cli.txt" in aws(anyone, "s3", "ls", "s3://dev/").stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    output = server_output(proc)
    assert "WARNING" in output and "--auth none" in output


def _export_line(output: str) -> str:
    [line] = [line.strip() for line in output.splitlines() if line.strip().startswith("export AWS_ENDPOINT_URL=")]
    return line


def test_banner_export_line_pasted_into_a_shell_works(tmp_path: Path) -> None:
    from tests.conftest import free_port, wait_ready

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTS3_", "AWS_"))}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smarts3", "serve", "--data-dir", str(tmp_path / "data"), "--port", str(port),
             "--metrics-port", "off"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc=proc)
        line = _export_line(log.read_text())
        secret = log.read_text().split("secret key: ", 1)[1].split()[0]  # generated: the banner shows it
        assert f"AWS_SECRET_ACCESS_KEY={secret} " in line
        assert f"AWS_ENDPOINT_URL=http://127.0.0.1:{port} " in line and "AWS_REGION=us-east-1" in line
        exe = shutil.which("aws", path=str(Path(sys.executable).parent))
        assert exe
        script = f"{line}\n{exe} s3 mb s3://pasted && {exe} s3 ls"
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False,
                              env={**env, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        assert done.returncode == 0, done.stderr
        assert "pasted" in done.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_banner_never_prints_a_given_secret(tmp_path: Path) -> None:
    from tests.conftest import SECRET_KEY, server_output, start_subprocess_server

    proc, url = start_subprocess_server(tmp_path / "data")
    try:
        line = _export_line(server_output(proc))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"AWS_ENDPOINT_URL={url} " in line
    assert "AWS_SECRET_ACCESS_KEY=<your secret> " in line
    assert SECRET_KEY not in server_output(proc)
