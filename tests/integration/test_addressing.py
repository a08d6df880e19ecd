"""Path-style and virtual-host-style addressing, and keys decoded exactly once."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml

from tests.conftest import Server, start_subprocess_server
from tests.integration.helpers import error_code, signed

BASE = "s3.smarts3.test"  # the session server's configured base domain


def test_virtual_host_style(server: Server, s3: Any, bucket: str) -> None:
    port = urlsplit(server.url).port
    host = f"{bucket}.{BASE}:{port}"
    put = signed("PUT", f"{server.url}/vh/key.txt", body=b"vhost", host=host)
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == b"vhost"
    got = signed("GET", f"{server.url}/vh/key.txt", host=host)
    assert got.content == b"vhost"
    listing = signed("GET", f"{server.url}/?list-type=2", host=host)
    assert "<Key>vh/key.txt</Key>" in listing.text


@pytest.mark.parametrize("host", ["localhost", "smarts3.default.svc.cluster.local", "127.0.0.1", BASE])
def test_plain_hosts_are_never_buckets(server: Server, bucket: str, host: str) -> None:
    port = urlsplit(server.url).port
    response = signed("GET", f"{server.url}/{bucket}?list-type=2", host=f"{host}:{port}")
    assert response.status_code == 200, response.text
    assert f"<Name>{bucket}</Name>" in response.text


def test_key_decoded_once(server: Server, s3: Any, bucket: str) -> None:
    key = "a%2Fb c+d/%41"
    response = signed("PUT", f"{server.url}/{bucket}/{quote(key, safe='/')}", body=b"literal")
    assert response.status_code == 200
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [key]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"literal"


def test_invalid_utf8_path(server: Server, bucket: str) -> None:
    response = signed("GET", f"{server.url}/{bucket}/%FF%FE")
    assert response.status_code == 400
    assert error_code(response) in ("InvalidURI", "SignatureDoesNotMatch")


def _localhost_client(server: Server, sent: list[str]) -> Any:
    """boto3 in virtual-host style against http://localhost:<port>, as the JS SDK v3 and the Go SDK v2 default.

    "<bucket>.localhost" need not resolve on this machine, so the connection goes to 127.0.0.1
    while the request keeps the Host header botocore signed.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    port = urlsplit(server.url).port
    client = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=BotoConfig(s3={"addressing_style": "virtual"}, retries={"total_max_attempts": 1}),
    )

    def to_loopback(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        sent.append(f"{parts.netloc}{parts.path}")
        request.url = parts._replace(netloc=f"127.0.0.1:{port}").geturl()

    client.meta.events.register("before-send.s3", to_loopback)
    return client


def test_virtual_host_under_localhost_never_writes_into_the_path_bucket(server: Server, s3: Any) -> None:
    # The hazard: "PUT /dir1/small.txt" with "Host: vb1.localhost" once landed in bucket dir1.
    vb1, dir1 = f"vb1-{uuid.uuid4().hex[:12]}", f"dir1-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=vb1)
    s3.create_bucket(Bucket=dir1)
    sent: list[str] = []
    client = _localhost_client(server, sent)
    client.put_object(Bucket=vb1, Key=f"{dir1}/small.txt", Body=b"small")
    assert sent == [f"{vb1}.localhost:{urlsplit(server.url).port}/{dir1}/small.txt"]  # really virtual-host style
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vb1)["Contents"]] == [f"{dir1}/small.txt"]
    assert s3.list_objects_v2(Bucket=dir1)["KeyCount"] == 0
    assert client.get_object(Bucket=vb1, Key=f"{dir1}/small.txt")["Body"].read() == b"small"
    assert client.list_objects_v2(Bucket=vb1)["KeyCount"] == 1


def test_a_host_label_that_cannot_be_a_bucket_is_refused(server: Server, bucket: str, s3: Any) -> None:
    port = urlsplit(server.url).port
    response = signed("PUT", f"{server.url}/{bucket}/small.txt", body=b"x", host=f"not_a_bucket.localhost:{port}")
    assert response.status_code == 400, response.text
    assert error_code(response) == "InvalidURI"
    assert "--base-domain" in response.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_extra_base_domains_from_the_environment(tmp_path: Path) -> None:
    names = "smarts3.ns.svc,smarts3.ns.svc.cluster.local,smarts3-0.smarts3.ns.svc.cluster.local"
    proc, url = start_subprocess_server(tmp_path / "data", env={"SMARTS3_EXTRA_BASE_DOMAINS": names})
    try:
        port = urlsplit(url).port
        assert signed("PUT", f"{url}/vb1", host=f"localhost:{port}").status_code == 200
        put = signed("PUT", f"{url}/dir1/small.txt", body=b"svc", host=f"vb1.smarts3.ns.svc.cluster.local:{port}")
        assert put.status_code == 200, put.text
        listing = signed("GET", f"{url}/vb1?list-type=2", host=f"smarts3-0.smarts3.ns.svc.cluster.local:{port}")
        assert "<Key>dir1/small.txt</Key>" in listing.text  # the pod's own name is path style
        got = signed("GET", f"{url}/dir1/small.txt", host=f"vb1.smarts3.ns.svc:{port}")
        assert got.content == b"svc"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_chart_names_its_service_and_pod_as_endpoints() -> None:
    """What the chart sets is what the server needs: the Service's names vhost, the pod's own path style."""
    from smarts3.config.settings import Settings
    from smarts3.s3.addressing import endpoint_names, resolve
    from tests.chart.conftest import CHART, HELM

    if not HELM.exists():
        pytest.skip("helm not installed: run `bash .ci/get-helm.sh` (installs into .tools/bin)")
    rendered = subprocess.run(
        [str(HELM), "template", "s", str(CHART), "--namespace", "s3"], capture_output=True, text=True, check=True
    ).stdout
    sts = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "StatefulSet")
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    value = env["SMARTS3_EXTRA_BASE_DOMAINS"]["value"].replace("$(POD_NAME)", "s-smarts3-0")  # as the kubelet does
    settings = Settings(extra_base_domains=value)
    names = endpoint_names(settings.base_domain, settings.extra_base_domains)
    for host in ("vb1.s-smarts3.s3.svc:9000", "vb1.s-smarts3.s3.svc.cluster.local", "vb1.s-smarts3.s3"):
        assert resolve(b"/dir1/small.txt", host, names).bucket == "vb1", host
    for host in ("s-smarts3.s3.svc:9000", "s-smarts3-0.s-smarts3.s3.svc.cluster.local:9000", "10.0.0.7:9000"):
        assert resolve(b"/dir1/small.txt", host, names).bucket == "dir1", host
