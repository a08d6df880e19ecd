"""smarts3-operator: S3Bucket and S3Credential custom resources for the smarts3 server.

The operator turns custom resources into two kinds of Secrets: one declared-configuration
Secret that the server mounts and reloads live (buckets, credentials and grants, in the
format of ``smarts3.config.declared``), and one app-facing Secret per S3Credential that
works with ``envFrom`` for any AWS SDK. It never talks S3 to the server.

Importing this package registers nothing; ``smarts3_operator.handlers`` registers the
kopf handlers, and ``python -m smarts3_operator`` runs them.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
