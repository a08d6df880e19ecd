"""`smarts3 admin buckets list|create NAME|delete NAME`, over S3 with the root key."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smarts3.admin.s3client import S3Client


def add_parser(groups: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    commands = groups.add_parser("buckets", help="list, create and delete buckets").add_subparsers(
        dest="buckets_command", required=True
    )
    commands.add_parser("list", parents=[common], help="every bucket and its creation time").set_defaults(
        admin_run=list_buckets
    )
    create = commands.add_parser("create", parents=[common], help="create a bucket")
    create.add_argument("name")
    create.set_defaults(admin_run=create_bucket)
    delete = commands.add_parser("delete", parents=[common], help="delete an empty bucket")
    delete.add_argument("name")
    delete.set_defaults(admin_run=delete_bucket)


def client(args: argparse.Namespace) -> S3Client:
    from smarts3.admin.s3client import S3Client
    from smarts3.admin.target import endpoint, load_settings, root_key

    settings = load_settings(args)
    return S3Client(endpoint(args, settings), root_key(args, settings), settings.region, ca_file=args.ca_file)


def list_buckets(args: argparse.Namespace) -> int:
    from smarts3.admin.s3client import S3_NS

    document = client(args).call("GET", "/")
    buckets = [] if document is None else document.iter(S3_NS + "Bucket")
    for bucket in buckets:
        print(f"{bucket.findtext(S3_NS + 'Name')}\t{bucket.findtext(S3_NS + 'CreationDate')}")
    return 0


def create_bucket(args: argparse.Namespace) -> int:
    from smarts3.admin.errors import AdminError

    s3 = client(args)
    # In us-east-1 S3 answers 200 to a CreateBucket of a bucket you own (and keeps it): ask first,
    # so "created" is never printed for a bucket that was already there.
    try:
        s3.call("HEAD", f"/{args.name}")
    except AdminError as exc:
        if ": 404:" not in str(exc):
            raise
    else:
        raise AdminError(f"PUT /{args.name}: BucketAlreadyOwnedByYou: the bucket already exists; nothing changed")
    s3.call("PUT", f"/{args.name}")
    print(f"created bucket {args.name}")
    return 0


def delete_bucket(args: argparse.Namespace) -> int:
    client(args).call("DELETE", f"/{args.name}")
    print(f"deleted bucket {args.name}")
    return 0
