"""Write an HTML page whose form uploads a file straight from the browser to smarts3 (POST object).

    python examples/post_form.py --endpoint http://127.0.0.1:9000 --bucket uploads \\
        --access-key KEY --secret-key SECRET > upload.html

Open upload.html in a browser, pick a file, submit: the browser sends it to the bucket under
`incoming/<its file name>`, signed by the policy below (valid for an hour, at most 10 MiB), and
smarts3 answers 201 with a PostResponse document (or redirects to --redirect, if given). The
secret never reaches the page: only the policy and its signature do.
"""

from __future__ import annotations

import argparse
import html
import sys
from typing import Any

import boto3
from botocore.config import Config


def presigned_post(
    endpoint: str, bucket: str, access_key: str, secret_key: str, *, redirect: str | None = None,
    prefix: str = "incoming/", max_bytes: int = 10 * 1024 * 1024, expires: int = 3600,
) -> dict[str, Any]:
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    fields: dict[str, str] = {"success_action_redirect": redirect} if redirect else {"success_action_status": "201"}
    conditions: list[Any] = [
        ["starts-with", "$key", prefix],
        ["content-length-range", 1, max_bytes],
        *({name: value} for name, value in fields.items()),
    ]
    return dict(s3.generate_presigned_post(bucket, prefix + "${filename}", Fields=fields, Conditions=conditions,
                                           ExpiresIn=expires))


def form_html(post: dict[str, Any]) -> str:
    hidden = "\n".join(
        f'    <input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in post["fields"].items()
    )
    return f"""<!doctype html>
<html>
<head><meta charset="utf-8"><title>Upload to smarts3</title></head>
<body>
  <form id="upload" action="{html.escape(post["url"])}" method="post" enctype="multipart/form-data">
{hidden}
    <input type="file" name="file" id="file">
    <button type="submit">Upload</button>
  </form>
</body>
</html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--redirect", help="where the browser goes after a successful upload")
    args = parser.parse_args(argv)
    sys.stdout.write(form_html(presigned_post(args.endpoint, args.bucket, args.access_key, args.secret_key,
                                              redirect=args.redirect)))


if __name__ == "__main__":
    main()
