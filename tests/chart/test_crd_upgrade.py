"""CRD versions and the CRD upgrade path: v1beta1 stored, v1alpha1 served; a pre-upgrade hook applies crds/."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from smarts3_operator import crds as crd_apply
from smarts3_operator.specs import API_VERSION, VERSION
from tests.chart.conftest import CHART, ROOT, Render, by_kind, one

CRD_FILES = sorted((CHART / "crds").glob("*.yaml"))
# Kinds that existed in v1alpha1 keep it served; S3BucketGrant was born in v1beta1.
SINCE_V1ALPHA1 = [p for p in CRD_FILES if p.name != "s3bucketgrants.smarts3.io.yaml"]
HOOK = {"helm.sh/hook": "pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}


def test_a_kind_born_in_v1beta1_has_only_v1beta1() -> None:
    crd = yaml.safe_load((CHART / "crds" / "s3bucketgrants.smarts3.io.yaml").read_text())
    assert [(v["name"], v["served"], v["storage"]) for v in crd["spec"]["versions"]] == [("v1beta1", True, True)]


@pytest.mark.parametrize("path", SINCE_V1ALPHA1, ids=lambda p: p.name)
def test_v1beta1_is_stored_and_v1alpha1_still_served_with_the_same_schema(path: pathlib.Path) -> None:
    crd = yaml.safe_load(path.read_text())
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert set(versions) == {"v1beta1", "v1alpha1"}
    assert [n for n, v in versions.items() if v["storage"]] == ["v1beta1"]
    assert all(v["served"] for v in versions.values())
    assert versions["v1alpha1"].get("deprecated") is True
    # Same schema, printer columns and subresources: the API server converts by rewriting apiVersion
    # (strategy None), so no conversion webhook is needed.
    for field in ("schema", "additionalPrinterColumns", "subresources"):
        assert versions["v1alpha1"][field] == versions["v1beta1"][field], field
    assert crd["spec"].get("conversion", {"strategy": "None"}) == {"strategy": "None"}


def test_the_operator_watches_v1beta1() -> None:
    assert (VERSION, API_VERSION) == ("v1beta1", "smarts3.io/v1beta1")


def test_notes_and_examples_use_v1beta1(render: Render) -> None:
    for path in (ROOT / "manifests" / "examples").glob("s3*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] == "smarts3.io/v1beta1", path.name
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert "smarts3.io/v1beta1" in notes and "v1alpha1" not in notes


def _hook_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "crds"]


def test_upgrade_hook_applies_every_file_of_crds_dir(render: Render) -> None:
    """The hook's ConfigMap holds each crds/ file byte for byte: a new CRD file there needs no template edit."""
    objects = _hook_objects(render())
    assert sorted(o["kind"] for o in objects) == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job",
                                                   "ServiceAccount"]
    for obj in objects:
        annotations = obj["metadata"]["annotations"]
        assert {k: annotations[k] for k in HOOK} == HOOK, obj["kind"]
        # The Job runs last, after its ServiceAccount, RBAC and ConfigMap exist.
        assert annotations["helm.sh/hook-weight"] == ("0" if obj["kind"] == "Job" else "-10")
    data = one(objects, "ConfigMap")["data"]
    assert data == {p.name: p.read_text() for p in CRD_FILES}
    assert [d["metadata"]["name"] for d in crd_apply.load(CHART / "crds")] == [
        "s3bucketgrants.smarts3.io", "s3buckets.smarts3.io", "s3credentials.smarts3.io"
    ]


def test_upgrade_hook_job_runs_the_apply_module_with_the_operator_image(render: Render) -> None:
    objects = _hook_objects(render("--set", "image.tag=9.9.9"))
    job = one(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "smarts3/operator:9.9.9"
    assert container["command"] == ["python", "-m", "smarts3_operator.crds", "/etc/smarts3/crds"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["activeDeadlineSeconds"] == 300
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["crds"]["configMap"]["name"] == one(objects, "ConfigMap")["metadata"]["name"]


def test_upgrade_hook_rbac_is_limited_to_the_charts_crds(render: Render) -> None:
    objects = _hook_objects(render())
    names = sorted(yaml.safe_load(p.read_text())["metadata"]["name"] for p in CRD_FILES)
    rules = one(objects, "ClusterRole")["rules"]
    assert all(r["apiGroups"] == ["apiextensions.k8s.io"] and r["resources"] == ["customresourcedefinitions"]
               for r in rules)
    named = [r for r in rules if "resourceNames" in r]
    assert [(sorted(r["verbs"]), sorted(r["resourceNames"])) for r in named] == [(["get", "patch"], names)]
    assert [r["verbs"] for r in rules if "resourceNames" not in r] == [["create"]]
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "s-smarts3-crds", "namespace": "s3"}]


def test_upgrade_hook_can_be_turned_off_and_is_not_in_the_plain_manifests(render: Render) -> None:
    assert _hook_objects(render("--set", "crds.upgrade=false")) == []
    installed = [d for d in yaml.safe_load_all((ROOT / "manifests/install/smarts3.yaml").read_text()) if d]
    assert by_kind(installed, "Job") == []


class FakeCrdApi:
    """ApiextensionsV1Api's two calls, over a dict: Established after `establish_after` reads."""

    def __init__(self, establish_after: int) -> None:
        self.applied: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.reads = 0
        self.establish_after = establish_after

    def patch_custom_resource_definition(self, name: str, body: Any, **kwargs: Any) -> Any:
        self.applied.append((name, body, kwargs))
        return body

    def read_custom_resource_definition(self, name: str, **kwargs: Any) -> Any:
        self.reads += 1
        status = "True" if self.reads > self.establish_after else "False"
        return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Established", "status": status}]}}


def test_apply_module_server_side_applies_then_waits_for_established() -> None:
    api = FakeCrdApi(establish_after=3)
    now = [0.0]
    names = crd_apply.apply(api, crd_apply.load(CHART / "crds"), clock=lambda: now[0],
                            sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert names == ["s3bucketgrants.smarts3.io", "s3buckets.smarts3.io", "s3credentials.smarts3.io"]
    assert [n for n, _, _ in api.applied] == names
    for _, body, kwargs in api.applied:
        assert kwargs == {"field_manager": "smarts3-crds", "force": True,
                          "_content_type": "application/apply-patch+yaml"}
        assert body["kind"] == "CustomResourceDefinition"
    assert api.reads > 3 and now[0] >= 1.0  # it waited


def test_apply_module_fails_when_a_crd_never_becomes_established() -> None:
    api = FakeCrdApi(establish_after=10**9)
    now = [0.0]
    with pytest.raises(TimeoutError, match=r"s3buckets\.smarts3\.io"):
        crd_apply.apply(api, crd_apply.load(CHART / "crds"), timeout=5, clock=lambda: now[0],
                        sleep=lambda s: now.__setitem__(0, now[0] + s))


def test_apply_module_refuses_an_empty_directory(tmp_path: pathlib.Path) -> None:
    assert crd_apply.main([str(tmp_path)]) == 2
