"""`helm test`: a pod on the server image runs `python -m smarts3.selftest` with a Role limited to its objects.

The script itself runs against the operator and a real server in tests/operator/test_selftest.py.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import pytest

from smarts3.selftest.__main__ import main as selftest_main
from tests.chart.conftest import CHART, Render, one

HOOK = {"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}


def _test_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == "test"]


def test_the_test_pod_runs_the_selftest_on_the_server_image(render: Render) -> None:
    objects = _test_objects(render("--set", "image.tag=2.0.0"))
    pod = one(objects, "Pod")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "smarts3/server:2.0.0"  # no amazon/aws-cli, no Docker Hub pull
    assert container["command"] == ["python", "-m", "smarts3.selftest"]
    assert container["args"] == [
        "--name=s-smarts3-test", "--namespace=s3", "--endpoint=http://s-smarts3.s3.svc:9000", "--timeout=120"
    ]
    assert pod["spec"]["serviceAccountName"] == "s-smarts3-test"
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "env" not in container  # no root key: it tests with the key the operator writes
    for obj in objects:
        annotations = obj["metadata"]["annotations"]
        assert {k: annotations[k] for k in HOOK} == HOOK, obj["kind"]
        # The ServiceAccount and RBAC exist before the pod starts.
        assert annotations.get("helm.sh/hook-weight", "0") == ("0" if obj["kind"] == "Pod" else "-10")


def test_the_test_role_is_limited_to_its_own_objects_and_secret(render: Render) -> None:
    objects = _test_objects(render())
    role = one(objects, "Role")
    assert role["metadata"]["namespace"] == "s3"
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])): r.get("resourceNames") for r in
             role["rules"]}
    assert rules == {
        (("smarts3.io",), ("s3buckets", "s3credentials"), ("create",)): None,
        (("smarts3.io",), ("s3buckets", "s3credentials"), ("get", "delete")): ["s-smarts3-test"],
        (("",), ("secrets",), ("get",)): ["s-smarts3-test-s3"],
    }
    binding = one(objects, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "s-smarts3-test"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "s-smarts3-test", "namespace": "s3"}]
    assert one(objects, "ServiceAccount")["automountServiceAccountToken"] is False  # the pod opts in


def test_with_watched_namespaces_the_test_declares_where_the_operator_looks(render: Render) -> None:
    objects = _test_objects(render("-f", str(CHART / "ci" / "namespaced-operator-values.yaml")))
    assert one(objects, "Role")["metadata"]["namespace"] == "team-a"
    assert one(objects, "RoleBinding")["subjects"][0]["namespace"] == "s3"
    assert "--namespace=team-a" in one(objects, "Pod")["spec"]["containers"][0]["args"]


def test_without_the_operator_the_test_checks_the_endpoint(render: Render) -> None:
    objects = _test_objects(render("--set", "operator.enabled=false"))
    assert [o["kind"] for o in objects] == ["Pod"]  # no RBAC: it never calls the API server
    pod = objects[0]
    assert pod["spec"]["automountServiceAccountToken"] is False
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "smarts3/server:0.1.0"
    assert container["command"] == ["python", "-c"]
    script = container["args"][0]
    assert "<Code>AccessDenied</Code>" in script and "http://s-smarts3.s3.svc:9000/" in script


def test_with_tls_the_test_accepts_the_in_cluster_certificate(render: Render) -> None:
    pod = one(_test_objects(render("--set", "tls.enabled=true", "--set", "tls.secretName=s3-tls")), "Pod")
    args = pod["spec"]["containers"][0]["args"]
    assert "--endpoint=https://s-smarts3.s3.svc:9000" in args and "--no-verify-tls" in args


def test_tests_can_be_turned_off(render: Render) -> None:
    assert _test_objects(render("--set", "tests.enabled=false")) == []


@pytest.mark.parametrize("argv", [["--name", "x", "--kube-api", "ftp://nowhere"], ["--name", "x"]])
def test_selftest_cli_refuses_to_run_without_an_api_server(argv: list[str]) -> None:
    # Outside a pod and with no usable --kube-api: exit status 2 before anything is created.
    assert selftest_main(argv) == 2


def test_the_endpoint_check_passes_against_a_real_server(render: Render, tmp_path: pathlib.Path) -> None:
    from tests.conftest import start_subprocess_server

    pod = one(_test_objects(render("--set", "operator.enabled=false")), "Pod")
    script = pod["spec"]["containers"][0]["args"][0]
    proc, url = start_subprocess_server(tmp_path / "data")
    try:
        result = subprocess.run([sys.executable, "-c", script.replace("http://s-smarts3.s3.svc:9000", url)],
                                capture_output=True, text=True, timeout=60, check=False)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the S3 endpoint answers and refuses unsigned requests"
