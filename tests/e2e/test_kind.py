"""End to end on a real cluster: kind, both images, the chart, the custom resources.

The scenarios of the appliance test (tests/operator) that a real cluster adds something to: a fresh
install becomes Ready with no bucket; an S3Bucket plus an S3Credential give an application a working key
within a deadline; `helm test` (the server image's selftest) passes; rotation under continuous traffic
fails no request; `helm upgrade` applies the chart's CRDs through the hook; uninstall. Then three server
replicas on one shared volume and an in-cluster PostgreSQL (tests/e2e/postgres.yaml, image postgres:17-alpine
pulled by docker once and loaded into kind): the operator's push reaches every replica, and an object written
through the Service is read back from each pod.

Needs docker (with a reachable daemon) and kind on PATH; helm and kubectl come from ``.tools/bin``
(``bash .ci/get-helm.sh``) or PATH. Everything else skips with the reason.
Run: ``pytest tests/e2e -v`` (about 5-10 minutes; SMARTS3_E2E_KEEP=1 keeps the cluster;
SMARTS3_E2E_PUT_DEADLINE sets the apply-to-PUT deadline in seconds, default 5 as issue 16 asks).
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLUSTER = "smarts3-e2e"
TAG = "e2e"
IMAGES = {target: f"smarts3/{target}:{TAG}" for target in ("server", "operator")}
RELEASE = NAMESPACE = "smarts3"
APPS = "e2e-apps"
ENDPOINT = f"http://{RELEASE}.{NAMESPACE}.svc:9000"
PUT_DEADLINE = float(os.environ.get("SMARTS3_E2E_PUT_DEADLINE", "5"))
T = TypeVar("T")

# Run inside the client pod (the server image: python and smarts3.selftest.s3ops, no AWS CLI to pull).
PUT_ONCE = """
import sys
from smarts3.selftest import s3ops
endpoint, access, secret, region, bucket = sys.argv[1:6]
reply = s3ops.request(endpoint, s3ops.S3Key(access, secret, region), "PUT", bucket, "e2e.txt", b"hello-from-e2e")
print(reply.status, reply.code)
sys.exit(0 if reply.status == 200 else 1)
"""
TRAFFIC = """
import collections, sys, time
from smarts3.selftest import s3ops
endpoint, access, secret, region, bucket, seconds = sys.argv[1:7]
key = s3ops.S3Key(access, secret, region)
ok, failed = 0, collections.Counter()
end = time.monotonic() + float(seconds)
while time.monotonic() < end:
    reply = s3ops.request(endpoint, key, "PUT", bucket, f"traffic/{ok}", b"x" * 512)
    if reply.status == 200:
        ok += 1
    else:
        failed[f"{reply.status} {reply.code}"] += 1
    time.sleep(0.05)
print(f"ok={ok} failed={sum(failed.values())} {dict(failed)}")
"""


def _tool(name: str) -> str | None:
    local = ROOT / ".tools" / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def _skip_reason() -> str | None:
    for name in ("docker", "kind"):
        if shutil.which(name) is None:
            return f"{name} not found on PATH (the kind end-to-end suite needs docker and kind)"
    for name in ("helm", "kubectl"):
        if _tool(name) is None:
            return f"{name} not found: run `bash .ci/get-helm.sh`"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"docker cannot reach a daemon: {probe.stderr.strip()[:200]}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def poll(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Cluster:
    def __init__(self, kubeconfig: pathlib.Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def run(self, *args: str, timeout: float = 600, check: bool = True, stdin: str | None = None) -> str:
        proc = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, input=stdin, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def kubectl(self, *args: str, **kw: Any) -> str:
        return self.run(str(_tool("kubectl")), *args, **kw)

    def helm(self, *args: str, **kw: Any) -> str:
        return self.run(str(_tool("helm")), *args, **kw)

    def json(self, *args: str) -> dict[str, Any] | None:
        out = self.kubectl("get", *args, "-o", "json", check=False)
        return json.loads(out) if out.strip() else None

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        found = self.json(f"secret/{name}", "-n", namespace)
        if found is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}

    def in_client(self, script: str, *args: str, timeout: float = 120,
                  namespace: str = APPS) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(_tool("kubectl")), "exec", "-n", namespace, "client", "--", "python", "-c", script, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )


def _key_args(data: dict[str, str]) -> list[str]:
    # The in-cluster Service URL, as the app Secret's AWS_ENDPOINT_URL is by default.
    return [data["AWS_ENDPOINT_URL"], data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"], data["AWS_REGION"],
            data["BUCKET_NAME"]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    c = Cluster(kubeconfig)
    for target, image in IMAGES.items():
        c.run("docker", "build", "--target", target, "-t", image, "-f", str(ROOT / "Containerfile"), str(ROOT),
              timeout=1200)
    if CLUSTER not in c.run("kind", "get", "clusters").split():
        c.run("kind", "create", "cluster", "--name", CLUSTER, "--config", str(ROOT / "kind-config.yaml"),
              "--kubeconfig", str(kubeconfig), "--wait", "180s")
    else:
        kubeconfig.write_text(c.run("kind", "get", "kubeconfig", "--name", CLUSTER))
    c.run("kind", "load", "docker-image", *IMAGES.values(), "--name", CLUSTER)
    try:
        yield c
    finally:
        if os.environ.get("SMARTS3_E2E_KEEP") != "1":
            c.run("kind", "delete", "cluster", "--name", CLUSTER, check=False)


HELM_VALUES = [
    "--set", f"image.server.repository={IMAGES['server'].split(':')[0]}",
    "--set", f"image.operator.repository={IMAGES['operator'].split(':')[0]}",
    "--set", f"image.tag={TAG}",
    "--set", "image.pullPolicy=Never",
    "--set", "persistence.size=1Gi",
    "--set", "operator.resyncSeconds=10",
]


def _start_client_pod(cluster: Cluster, namespace: str) -> None:
    """A pod of the server image to run SDK code in, as an application in the cluster would."""
    client = f"""
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {namespace}}}
spec:
  securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
  containers:
    - name: client
      image: {IMAGES['server']}
      imagePullPolicy: Never
      command: [python, -c, "import time; time.sleep(86400)"]
"""
    cluster.kubectl("apply", "-f", "-", stdin=client)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/client", "-n", namespace, "--timeout=120s")


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[Cluster]:
    # A fresh install with no S3Bucket at all: --wait returns only when the server pod is Ready.
    cluster.helm("install", RELEASE, str(ROOT / "charts" / "smarts3"), "--namespace", NAMESPACE,
                 "--create-namespace", *HELM_VALUES, "--wait", "--timeout", "5m")
    cluster.kubectl("create", "namespace", APPS, check=False)
    _start_client_pod(cluster, APPS)
    yield cluster
    cluster.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "3m", check=False)


def test_fresh_install_is_ready_with_no_bucket(installed: Cluster) -> None:
    assert installed.json("s3buckets", "-A")["items"] == []  # type: ignore[index]
    sts = installed.json(f"statefulset/{RELEASE}", "-n", NAMESPACE)
    assert sts is not None and sts["status"].get("readyReplicas") == 1
    path = f"/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}-metrics:metrics/proxy/_ready"
    installed.kubectl("get", "--raw", path)  # 200, or kubectl fails


def test_generated_root_key_is_read_with_show_root(installed: Cluster) -> None:
    """The chart renders no root Secret: the server generated the pair into its volume."""
    assert installed.kubectl("get", "secret", f"{RELEASE}-root", "-n", NAMESPACE, check=False) == ""
    out = installed.kubectl("exec", "-n", NAMESPACE, f"{RELEASE}-0", "--",
                            "smarts3", "admin", "credentials", "show-root", "--show-secret")
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert fields["access key id"].strip() and fields["secret key"].strip()
    assert "root-credentials.json" in fields["source"]


def test_bucket_and_credential_give_a_working_key_within_the_deadline(installed: Cluster) -> None:
    manifests = f"""
apiVersion: smarts3.io/v1beta1
kind: S3Bucket
metadata: {{name: e2e-bucket, namespace: {APPS}}}
spec: {{deletionPolicy: Retain}}  # it ends up holding objects; Retain keeps uninstall independent of them
---
apiVersion: smarts3.io/v1beta1
kind: S3Credential
metadata: {{name: e2e-app, namespace: {APPS}}}
spec:
  secretName: e2e-app-s3
  buckets: [{{name: e2e-bucket, access: readwrite}}]
"""
    applied = time.monotonic()
    installed.kubectl("apply", "-f", "-", stdin=manifests)
    data = poll(lambda: installed.secret(APPS, "e2e-app-s3"), 60, "the app Secret", every=0.2)
    assert data["AWS_ENDPOINT_URL"] == ENDPOINT and data["BUCKET_NAME"] == "e2e-bucket"
    poll(lambda: installed.in_client(PUT_ONCE, *_key_args(data)).returncode == 0, 120, "a PUT with the new key",
         every=0.2)
    usable = time.monotonic() - applied
    print(f"S3Bucket + S3Credential applied -> PUT accepted after {usable:.1f} s")
    ready = 'jsonpath={.status.conditions[?(@.type=="Ready")].status}=True'
    installed.kubectl("wait", f"--for={ready}", "s3credential/e2e-app", "-n", APPS, "--timeout=60s")
    assert usable <= PUT_DEADLINE, f"the key worked {usable:.1f} s after apply; the deadline is {PUT_DEADLINE} s"


def test_an_app_reads_its_key_through_envfrom(installed: Cluster) -> None:
    pod = f"app-{uuid.uuid4().hex[:6]}"
    script = ("import os, sys; from smarts3.selftest import s3ops; e = os.environ; "
              "k = s3ops.S3Key(e['AWS_ACCESS_KEY_ID'], e['AWS_SECRET_ACCESS_KEY'], e['AWS_REGION']); "
              "r = s3ops.request(e['AWS_ENDPOINT_URL'], k, 'GET', e['BUCKET_NAME'], 'e2e.txt'); "
              "print(r.status, r.body.decode()); sys.exit(r.status != 200)")
    pod_yaml = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {pod}, namespace: {APPS}}}
spec:
  restartPolicy: Never
  securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
  containers:
    - name: app
      image: {IMAGES['server']}
      imagePullPolicy: Never
      command: [python, -c, {json.dumps(script)}]
      envFrom: [{{secretRef: {{name: e2e-app-s3}}}}]
"""
    installed.kubectl("apply", "-f", "-", stdin=pod_yaml)
    installed.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{pod}", "-n", APPS, "--timeout=180s")
    assert "hello-from-e2e" in installed.kubectl("logs", pod, "-n", APPS)


def test_helm_test_passes_with_the_server_image(installed: Cluster) -> None:
    out = installed.helm("test", RELEASE, "--namespace", NAMESPACE, "--logs", "--timeout", "5m")
    assert "selftest passed" in out
    # The test cleaned up after itself.
    assert installed.json(f"s3credential/{RELEASE}-test", "-n", NAMESPACE) is None


def test_rotation_under_traffic_fails_no_request(installed: Cluster) -> None:
    old = installed.secret(APPS, "e2e-app-s3")
    assert old is not None
    traffic = subprocess.Popen(
        [str(_tool("kubectl")), "exec", "-n", APPS, "client", "--", "python", "-c", TRAFFIC, *_key_args(old), "30"],
        env=installed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(5)  # traffic with the old key is flowing before the rotation starts
    installed.kubectl("annotate", "--overwrite", "s3credential/e2e-app", "-n", APPS,
                      f"smarts3.io/rotate={uuid.uuid4().hex[:8]}")
    new = poll(lambda: (s := installed.secret(APPS, "e2e-app-s3")) and
               s["AWS_ACCESS_KEY_ID"] != old["AWS_ACCESS_KEY_ID"] and s, 60, "the rotated key")
    out, err = traffic.communicate(timeout=120)
    assert traffic.returncode == 0, err
    print(f"traffic with the old key through the rotation: {out.strip()}")
    assert " failed=0 " in f"{out.strip()} ", out
    assert int(out.split("ok=")[1].split()[0]) > 20
    poll(lambda: installed.in_client(PUT_ONCE, *_key_args(new)).returncode == 0, 30, "a PUT with the new key")
    status = installed.json("s3credential/e2e-app", "-n", APPS)["status"]  # type: ignore[index]
    assert status["previousAccessKeyId"] == old["AWS_ACCESS_KEY_ID"] and status["previousKeyExpiresAt"]


def test_helm_upgrade_applies_the_charts_crds(installed: Cluster) -> None:
    crd = "crd/s3buckets.smarts3.io"
    # Drift the CRD the way an older chart version would have left it.
    installed.kubectl("patch", crd, "--type=json", "-p",
                      '[{"op": "replace", "path": "/spec/versions/1/deprecated", "value": false}]')
    installed.helm("upgrade", RELEASE, str(ROOT / "charts" / "smarts3"), "--namespace", NAMESPACE,
                   *HELM_VALUES, "--wait", "--timeout", "5m")
    versions = {v["name"]: v for v in installed.json(crd)["spec"]["versions"]}  # type: ignore[index]
    assert versions["v1alpha1"]["deprecated"] is True and versions["v1beta1"]["storage"] is True
    # The hook's objects are gone after it succeeded.
    assert installed.json(f"job/{RELEASE}-crds", "-n", NAMESPACE) is None
    # v1alpha1 is still served: the same object read at the old version.
    old = installed.json("s3buckets.v1alpha1.smarts3.io/e2e-bucket", "-n", APPS)
    assert old is not None and old["apiVersion"] == "smarts3.io/v1alpha1"


def test_metrics_are_served_in_prometheus_format(installed: Cluster) -> None:
    path = f"/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}-metrics:metrics/proxy/_metrics"
    out = poll(lambda: (o := installed.kubectl("get", "--raw", path, check=False)) and "# TYPE" in o and o, 60,
               "metrics")
    assert "# HELP" in out


def test_uninstall(installed: Cluster) -> None:
    installed.kubectl("delete", "s3credential/e2e-app", "s3bucket/e2e-bucket", "-n", APPS, "--wait", "--timeout=120s")
    installed.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "3m")
    assert RELEASE not in installed.helm("list", "--namespace", NAMESPACE, "-q")


# -- three replicas on PostgreSQL -------------------------------------------------------------------------

PG_NAMESPACE = "smarts3-pg"
PG_ENDPOINT = f"http://{RELEASE}.{PG_NAMESPACE}.svc:9000"
POSTGRES_IMAGE = "postgres:17-alpine"  # the image tests/e2e/postgres.yaml names
REPLICAS = 3
# PUT through the Service, then GET from each pod by its IP: one small body (inline, in PostgreSQL) and one
# large (a file on the shared volume).
EVERY_REPLICA = """
import json, sys
from smarts3.selftest import s3ops
endpoint, access, secret, region, bucket = sys.argv[1:6]
pods = json.loads(sys.argv[6])
key = s3ops.S3Key(access, secret, region)
bodies = {"small.txt": b"small-" * 10, "large.bin": bytes(range(256)) * 1024}
for name, body in bodies.items():
    reply = s3ops.request(endpoint, key, "PUT", bucket, name, body)
    assert reply.status == 200, (name, reply.status, reply.code)
for pod in pods:
    for name, body in bodies.items():
        reply = s3ops.request(f"http://{pod}:9000", key, "GET", bucket, name)
        assert reply.status == 200 and reply.body == body, (pod, name, reply.status, reply.code)
print(f"read {len(bodies)} objects back from {len(pods)} replicas")
"""


def _server_pods(c: Cluster, namespace: str) -> list[dict[str, Any]]:
    found = c.json("pods", "-n", namespace, "-l", "app.kubernetes.io/component=server")
    return list((found or {}).get("items") or [])


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="module")
def replicated(cluster: Cluster) -> Iterator[Cluster]:
    """The chart with replicas=3 on one shared claim and the PostgreSQL of tests/e2e/postgres.yaml.

    Installed after the single-replica release is gone (test_uninstall): two operators would both
    reconcile every S3Bucket. kind's one node makes its default ReadWriteOnce volume (local-path)
    mountable by all three pods; a real cluster needs ReadWriteMany, which the schema enforces
    unless an existingClaim is given, as here.
    """
    cluster.run("docker", "pull", POSTGRES_IMAGE, timeout=600)
    cluster.run("kind", "load", "docker-image", POSTGRES_IMAGE, "--name", CLUSTER)
    cluster.kubectl("create", "namespace", PG_NAMESPACE, check=False)
    cluster.kubectl("apply", "-n", PG_NAMESPACE, "-f", str(ROOT / "tests" / "e2e" / "postgres.yaml"))
    claim = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: e2e-shared}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""
    cluster.kubectl("apply", "-n", PG_NAMESPACE, "-f", "-", stdin=claim)
    cluster.kubectl("rollout", "status", "statefulset/e2e-postgres", "-n", PG_NAMESPACE, "--timeout=300s")
    cluster.helm("install", RELEASE, str(ROOT / "charts" / "smarts3"), "--namespace", PG_NAMESPACE,
                 *HELM_VALUES, "--set", f"replicas={REPLICAS}",
                 "--set", "metadata.postgres.existingSecret=e2e-postgres", "--set", "metadata.postgres.key=uri",
                 "--set", "persistence.existingClaim=e2e-shared", "--wait", "--timeout", "10m", timeout=900)
    _start_client_pod(cluster, PG_NAMESPACE)
    yield cluster
    cluster.kubectl("delete", "s3credential/e2e-pg-app", "s3bucket/e2e-pg-bucket", "-n", PG_NAMESPACE,
                    "--ignore-not-found", "--wait", "--timeout=120s", check=False)
    cluster.helm("uninstall", RELEASE, "--namespace", PG_NAMESPACE, "--wait", "--timeout", "3m", check=False)
    cluster.kubectl("delete", "namespace", PG_NAMESPACE, "--wait", "--timeout=180s", check=False)


def test_three_replicas_are_ready_on_postgres(replicated: Cluster) -> None:
    sts = replicated.json(f"statefulset/{RELEASE}", "-n", PG_NAMESPACE)
    assert sts is not None and sts["spec"]["replicas"] == REPLICAS
    pods = poll(lambda: (p := _server_pods(replicated, PG_NAMESPACE)) and len(p) == REPLICAS
                and all(_ready(x) for x in p) and p, 300, "three Ready server pods")
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["SMARTS3_METADATA"]["valueFrom"]["secretKeyRef"] == {"name": "e2e-postgres", "key": "uri"}
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == ["e2e-shared"]


def test_declared_configuration_reaches_every_replica(replicated: Cluster) -> None:
    manifests = f"""
apiVersion: smarts3.io/v1beta1
kind: S3Bucket
metadata: {{name: e2e-pg-bucket, namespace: {PG_NAMESPACE}}}
spec: {{deletionPolicy: Retain}}
---
apiVersion: smarts3.io/v1beta1
kind: S3Credential
metadata: {{name: e2e-pg-app, namespace: {PG_NAMESPACE}}}
spec:
  secretName: e2e-pg-app-s3
  buckets: [{{name: e2e-pg-bucket, access: readwrite}}]
"""
    replicated.kubectl("apply", "-f", "-", stdin=manifests)
    # Ready only once every endpoint of the server Service reports the generation holding the change.
    ready = 'jsonpath={.status.conditions[?(@.type=="Ready")].status}=True'
    replicated.kubectl("wait", f"--for={ready}", "s3credential/e2e-pg-app", "-n", PG_NAMESPACE, "--timeout=180s")
    data = replicated.secret(PG_NAMESPACE, "e2e-pg-app-s3")
    assert data is not None and data["AWS_ENDPOINT_URL"] == PG_ENDPOINT
    pods = [p["status"]["podIP"] for p in _server_pods(replicated, PG_NAMESPACE) if _ready(p)]
    assert len(pods) == REPLICAS
    # The key works on each replica, whichever the Service picks: read back from every pod by address.
    proc = poll(lambda: (r := replicated.in_client(EVERY_REPLICA, *_key_args(data), json.dumps(pods),
                                                   namespace=PG_NAMESPACE)).returncode == 0 and r,
                120, "objects written through the Service read back from every replica", every=1)
    print(proc.stdout.strip())


def test_helm_test_passes_with_three_replicas(replicated: Cluster) -> None:
    out = replicated.helm("test", RELEASE, "--namespace", PG_NAMESPACE, "--logs", "--timeout", "5m")
    assert "selftest passed" in out
