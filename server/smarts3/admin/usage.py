"""`smarts3 admin usage`: objects and bytes per bucket, from the server's /_metrics.

The figures are the per-bucket counters the store keeps in each write transaction
(smarts3_bucket_objects, smarts3_bucket_bytes), so this costs one scrape of the ops
port whatever the bucket sizes, where listing every object would not.
"""

from __future__ import annotations

import argparse
import http.client
from typing import Any
from urllib.parse import urlsplit


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    usage = groups.add_parser(
        "usage", parents=[common], help="objects and bytes per bucket (from /_metrics on the ops port)"
    )
    usage.add_argument(
        "--metrics-url", help="the ops listener, e.g. http://127.0.0.1:9090 (default: from SMARTS3_METRICS_PORT)"
    )
    usage.set_defaults(admin_run=show_usage)


def show_usage(args: argparse.Namespace) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    from smarts3.admin.errors import AdminError
    from smarts3.admin.target import load_settings, local_host

    settings = load_settings(args)
    if args.metrics_url:
        base = str(args.metrics_url).rstrip("/")
    elif settings.metrics_port is not None:
        base = f"http://{local_host(settings.host)}:{settings.metrics_port}"
    else:
        raise AdminError("the ops port is off (SMARTS3_METRICS_PORT); usage reads /_metrics there: --metrics-url")
    token = settings.metrics_bearer_token
    text = _get(base + "/_metrics", token.get_secret_value() if token else None)
    figures: dict[str, dict[str, int]] = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("smarts3_bucket_objects", "smarts3_bucket_bytes"):
            for sample in family.samples:
                figures.setdefault(sample.labels["bucket"], {})[family.name] = int(sample.value)
    rows = [(name, f.get("smarts3_bucket_objects", 0), f.get("smarts3_bucket_bytes", 0)) for name, f in figures.items()]
    width = max([len("BUCKET"), *(len(name) for name, _, _ in rows)])
    print(f"{'BUCKET':<{width}}  {'OBJECTS':>12}  {'BYTES':>16}")
    for name, objects, size in sorted(rows):
        print(f"{name:<{width}}  {objects:>12}  {size:>16}")
    print(f"{'total':<{width}}  {sum(r[1] for r in rows):>12}  {sum(r[2] for r in rows):>16}")
    return 0


def _get(url: str, token: str | None) -> str:
    from smarts3.admin.errors import AdminError

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise AdminError(f"the ops listener serves plain http: {url}")
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        conn.request("GET", parts.path, headers={"authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        body = response.read().decode()
    except (OSError, http.client.HTTPException) as exc:
        raise AdminError(f"cannot reach the ops port at {url}: {exc} (--metrics-url)") from None
    finally:
        conn.close()
    if response.status != 200:
        raise AdminError(f"GET {url}: {response.status} {response.reason} (metrics bearer token?)")
    return body
