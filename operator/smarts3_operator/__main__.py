"""``python -m smarts3_operator`` / ``smarts3-operator``: run the operator with our settings."""

from __future__ import annotations

import importlib
import logging
import os
import sys

from smarts3_operator.settings import OperatorSettings

# `pip install smarts3` installs this script too; kopf and the Kubernetes client come with the extra only.
_EXTRA = ("kopf", "kubernetes")
INSTALL = "pip install 'smarts3[operator]'"


def missing_extra() -> str | None:
    """The first module of the `operator` extra that cannot be imported, if any."""
    for name in _EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None


def kube_config_problem() -> str | None:
    """Why no Kubernetes client configuration loads (in-cluster, then kubeconfig), if it does not.

    The same order as Kube() (kube.py). Checked before kopf starts: kopf would log a traceback from
    the start-up handler and retry it every minute, a pod that looks alive and does nothing.
    """
    import kubernetes  # type: ignore[import-untyped]
    import yaml

    try:
        kubernetes.config.load_incluster_config()
        return None
    except kubernetes.config.ConfigException as exc:
        in_cluster = str(exc)
    try:
        kubernetes.config.load_kube_config()
        return None
    except (kubernetes.config.ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        where = os.environ.get("KUBECONFIG", "~/.kube/config")
        detail = " ".join(str(exc).split())
        return f"not in a cluster ({in_cluster}) and no usable kubeconfig at {where}: {detail}"


def main() -> None:
    missing = missing_extra()
    if missing is not None:
        print(f"smarts3-operator: the operator needs {missing}, which is not installed: {INSTALL}", file=sys.stderr)
        raise SystemExit(2)
    problem = kube_config_problem()
    if problem is not None:
        print(f"smarts3-operator: cannot reach Kubernetes: {problem}", file=sys.stderr)
        raise SystemExit(2)
    import kopf

    settings = OperatorSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    import smarts3_operator.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        # One replica (Deployment strategy Recreate): no peering objects to manage.
        standalone=True,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness_endpoint,
    )


if __name__ == "__main__":
    main()
