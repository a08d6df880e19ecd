"""``python -m smarts3_operator.crds DIR``: apply the chart's CustomResourceDefinitions.

Helm installs ``crds/`` on the first install and never again, so a chart upgrade that adds a version or
a field would leave the cluster on the old schema. The chart's pre-upgrade hook Job runs this module
over a ConfigMap holding every file of ``crds/``: a server-side apply of each CRD (so fields owned by
other managers are kept), then a wait until the API server reports it Established, so the release's
new objects are admitted against the new schema.
"""

from __future__ import annotations

import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

import yaml

FIELD_MANAGER = "smarts3-crds"
APPLY_PATCH = "application/apply-patch+yaml"


class CrdApi(Protocol):
    """The two calls of kubernetes.client.ApiextensionsV1Api this module makes."""

    def patch_custom_resource_definition(self, name: str, body: Any, **kwargs: Any) -> Any: ...

    def read_custom_resource_definition(self, name: str, **kwargs: Any) -> Any: ...


def load(directory: pathlib.Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the directory's ``*.yaml`` files, in file-name order."""
    crds = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


def _established(crd: Any) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or [] if isinstance(crd, dict) else []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def apply(
    api: CrdApi,
    crds: list[dict[str, Any]],
    *,
    timeout: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    to_dict: Callable[[Any], Any] = lambda obj: obj,
) -> list[str]:
    """Server-side apply each CRD, then wait until all are Established; return their names."""
    names = []
    for crd in crds:
        name = crd["metadata"]["name"]
        # force: take over fields Helm's first install (an Update by manager "helm") set.
        api.patch_custom_resource_definition(
            name, crd, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY_PATCH
        )
        names.append(name)
    deadline = clock() + timeout
    pending = list(names)
    while pending:
        pending = [n for n in pending if not _established(to_dict(api.read_custom_resource_definition(n)))]
        if not pending:
            break
        if clock() >= deadline:
            raise TimeoutError(f"not Established after {timeout:.0f} s: {', '.join(pending)}")
        sleep(1.0)
    return names


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m smarts3_operator.crds DIR", file=sys.stderr)
        return 2
    crds = load(pathlib.Path(argv[0]))
    if not crds:
        print(f"smarts3-crds: no CustomResourceDefinition in {argv[0]}", file=sys.stderr)
        return 2
    import kubernetes  # type: ignore[import-untyped]

    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    client = kubernetes.client.ApiClient()
    api = kubernetes.client.ApiextensionsV1Api(client)
    try:
        names = apply(api, crds, to_dict=client.sanitize_for_serialization)
    except (kubernetes.client.ApiException, TimeoutError) as exc:
        print(f"smarts3-crds: {exc}", file=sys.stderr)
        return 1
    for name in names:
        print(f"applied and Established: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
