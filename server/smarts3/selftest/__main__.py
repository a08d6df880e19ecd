"""``python -m smarts3.selftest``: see smarts3/selftest/__init__.py."""

from __future__ import annotations

import argparse
import sys

from smarts3.selftest import check
from smarts3.selftest.kubeapi import SERVICE_ACCOUNT, KubeApi, KubeApiError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smarts3.selftest", description=__doc__)
    parser.add_argument("--name", required=True, help="name of the S3Bucket, the S3Credential, <name>-s3 Secret")
    parser.add_argument("--namespace", help="where to create them (default: the pod's namespace)")
    parser.add_argument("--endpoint", help="S3 endpoint (default: AWS_ENDPOINT_URL from the Secret)")
    parser.add_argument("--kube-api", help="API server URL without auth (default: in-cluster service account)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole test (default 120)")
    parser.add_argument("--no-verify-tls", action="store_true", help="accept any certificate of the S3 endpoint")
    args = parser.parse_args(argv)
    try:
        kube = KubeApi(args.kube_api) if args.kube_api else KubeApi.in_cluster()
        namespace = args.namespace or (SERVICE_ACCOUNT / "namespace").read_text().strip()
    except (KubeApiError, OSError) as exc:
        print(f"selftest: {exc}", file=sys.stderr)
        return 2
    opts = check.Options(namespace=namespace, name=args.name, endpoint=args.endpoint, timeout=args.timeout,
                         verify_tls=not args.no_verify_tls)
    try:
        check.run(kube, opts)
    except (check.SelfTestFailed, KubeApiError) as exc:
        print(f"selftest FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"selftest passed: Ready after {opts.timings['ready']:.1f} s, usable after {opts.timings['usable']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
