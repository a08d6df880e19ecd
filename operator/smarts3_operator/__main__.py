"""``python -m smarts3_operator`` / ``smarts3-operator``: run the operator with our settings."""

from __future__ import annotations

import logging

import kopf

from smarts3_operator.settings import OperatorSettings


def main() -> None:
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
