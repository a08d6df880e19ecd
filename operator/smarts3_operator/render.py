"""Pure builders: desired declared configuration and Secret bodies from specs.

Nothing here talks to Kubernetes; every function is deterministic except
``generate_keys``. The declared configuration is built with, and validated by,
``smarts3.config.declared`` -- the whole contract between operator and server.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import string
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import SecretStr

from smarts3.config.declared import (
    BucketDeletion,
    DeclaredBucket,
    DeclaredConfig,
    DeclaredCredential,
    DeletionPolicy,
    Grant,
    bucket_name_problem,
)
from smarts3_operator.specs import API_VERSION, BucketGrantSpec, BucketSpec, CredentialSpec, InvalidSpec

ROTATE_ANNOTATION = "smarts3.io/rotate"
"""Set (or change) on an S3Credential to get a new key pair."""
ROTATION_ANNOTATION = "smarts3.io/rotation"
"""On an app Secret: the rotate token its key pair was generated for."""
PREVIOUS_EXPIRES_ANNOTATION = "smarts3.io/previous-key-expires-at"
"""On an app Secret during a rotation overlap: when the previous key stops working."""
PREVIOUS_KEY_ID = "PREVIOUS_AWS_ACCESS_KEY_ID"
PREVIOUS_SECRET_KEY = "PREVIOUS_AWS_SECRET_ACCESS_KEY"  # noqa: S105  (a key name, not a secret)
PREVIOUS_SUFFIX = "@previous"
"""Appended to a credential's name for its previous key's entry in the declared configuration."""
_OWN_ANNOTATIONS = "smarts3.io/"
CREDENTIAL_LABEL = "smarts3.io/credential"
MANAGED_BY = {
    "app.kubernetes.io/managed-by": "smarts3-operator",
    "app.kubernetes.io/part-of": "smarts3",
}

_HEADER = "# Written by smarts3-operator from S3Bucket and S3Credential objects; edits are lost.\n"
_ALNUM_UPPER = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class KeyPair:
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeySet:
    """A credential's keys: the current pair and, during a rotation overlap, the previous one."""

    current: KeyPair
    previous: KeyPair | None = None
    previous_expires_at: datetime.datetime | None = None

    def without_expired(self, now: datetime.datetime) -> KeySet:
        if self.previous is None or self.previous_expires_at is None or self.previous_expires_at <= now:
            return KeySet(self.current)
        return self

    def same_keys(self, other: KeySet | None) -> bool:
        return other is not None and (self.current, self.previous) == (other.current, other.previous)


def format_time(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class BucketObject:
    """An S3Bucket as the aggregate needs it."""

    namespace: str
    name: str
    created: str
    spec: BucketSpec
    deleting: bool = False

    @property
    def bucket_name(self) -> str:
        return self.spec.bucket_name or self.name


@dataclass(frozen=True, slots=True)
class CredentialObject:
    """An S3Credential as the aggregate needs it; ``keys`` is None until it has some."""

    namespace: str
    name: str
    spec: CredentialSpec
    keys: KeySet | None
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class GrantObject:
    """An S3BucketGrant: in ``namespace``, shares ``spec.bucket`` with the namespaces it lists."""

    namespace: str
    name: str
    spec: BucketGrantSpec


@dataclass(frozen=True, slots=True)
class Plan:
    """The declared configuration for a set of objects, and what could not go into it."""

    config: DeclaredConfig
    bucket_names: Mapping[tuple[str, str], str]
    """Declared S3Bucket (namespace, name) -> its S3 bucket name."""
    conflicts: Mapping[tuple[str, str], str]
    """S3Bucket (namespace, name) -> why it is not declared (another object owns the name)."""
    missing: Mapping[tuple[str, str], tuple[str, ...]]
    """S3Credential (namespace, name) -> the S3Bucket names it refers to that are not declared."""
    refused: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """S3Credential (namespace, name) -> other namespaces' S3Buckets ("ns/name") no grant lets it bind."""


def generate_keys() -> KeyPair:
    """A fresh, cryptographically random key pair in the shape AWS uses (20 + 40 characters)."""
    key_id = "SK" + "".join(secrets.choice(_ALNUM_UPPER) for _ in range(18))
    secret = "".join(secrets.choice(_ALNUM) for _ in range(40))
    return KeyPair(key_id, secret)


def credential_id(namespace: str, name: str) -> str:
    """The credential's name in the declared configuration: unique across namespaces."""
    return f"{namespace}/{name}"


def bucket_name_for(name: str, spec: BucketSpec) -> str:
    bucket = spec.bucket_name or name
    problem = bucket_name_problem(bucket)
    if problem:
        source = "spec.bucketName" if spec.bucket_name else "metadata.name (used as the bucket name)"
        raise InvalidSpec(f"{source} {bucket!r} {problem}")
    return bucket


def declared_bucket(name: str, spec: BucketSpec) -> DeclaredBucket:
    return DeclaredBucket(
        name=bucket_name_for(name, spec),
        public_read=spec.public_read,
        cors=list(spec.cors),
        deletion_policy=spec.deletion_policy,
        policy=spec.policy,
        public_access_block=spec.public_access_block,
    )


def plan(
    buckets: Iterable[BucketObject],
    credentials: Iterable[CredentialObject],
    grants: Iterable[GrantObject] = (),
) -> Plan:
    """Aggregate every live S3Bucket and S3Credential into one declared configuration.

    The oldest S3Bucket claims a bucket name (ties broken by namespace/name, so the
    answer never depends on list order); later claimants are reported as conflicts.
    A credential's grants cover the declared S3Buckets of its own namespace that it
    names, and S3Buckets of other namespaces that an S3BucketGrant there shares with it (the
    rest are refused); the rest are reported as missing. Credentials without keys are left out.
    """
    shared = [(g.namespace, g.spec) for g in grants]
    declared: dict[str, DeclaredBucket] = {}
    owner: dict[tuple[str, str], str] = {}
    conflicts: dict[tuple[str, str], str] = {}
    claimed: dict[str, tuple[str, str]] = {}
    live = sorted((b for b in buckets if not b.deleting), key=lambda b: (b.created, b.namespace, b.name))
    for obj in live:
        try:
            entry = declared_bucket(obj.name, obj.spec)
        except InvalidSpec:
            continue  # its own reconcile reports it
        if entry.name in claimed:
            ns, nm = claimed[entry.name]
            conflicts[(obj.namespace, obj.name)] = (
                f"bucket name {entry.name!r} is already declared by S3Bucket {ns}/{nm}"
            )
            continue
        claimed[entry.name] = (obj.namespace, obj.name)
        declared[entry.name] = entry
        owner[(obj.namespace, obj.name)] = entry.name

    declared_credentials: list[DeclaredCredential] = []
    missing: dict[tuple[str, str], tuple[str, ...]] = {}
    refused: dict[tuple[str, str], tuple[str, ...]] = {}
    for cred in sorted(credentials, key=lambda c: (c.namespace, c.name)):
        if cred.deleting or cred.keys is None:
            continue
        bucket_grants: list[Grant] = []
        absent: list[str] = []
        not_permitted: list[str] = []
        for ref in cred.spec.buckets:
            ref_namespace = ref.namespace_or(cred.namespace)
            if ref_namespace != cred.namespace and not any(
                ns == ref_namespace and spec.bucket == ref.name and spec.allows(cred.namespace, cred.name)
                for ns, spec in shared
            ):
                not_permitted.append(f"{ref_namespace}/{ref.name}")
                continue
            bucket = owner.get((ref_namespace, ref.name))
            if bucket is None:
                absent.append(ref.name if ref_namespace == cred.namespace else f"{ref_namespace}/{ref.name}")
            else:
                bucket_grants.append(Grant(bucket=bucket, access=ref.access))
        if absent:
            missing[(cred.namespace, cred.name)] = tuple(absent)
        if not_permitted:
            refused[(cred.namespace, cred.name)] = tuple(not_permitted)
        name = credential_id(cred.namespace, cred.name)
        pairs = [(name, cred.keys.current)]
        if cred.keys.previous is not None and cred.keys.previous != cred.keys.current:
            # The old key keeps its grants until the overlap ends (callers drop expired ones).
            pairs.append((name + PREVIOUS_SUFFIX, cred.keys.previous))
        declared_credentials.extend(
            DeclaredCredential(
                name=entry_name,
                access_key_id=pair.access_key_id,
                secret_access_key=SecretStr(pair.secret_access_key),
                grants=bucket_grants,
                # One identity for both keys of a rotation: the buckets it owns stay its own.
                identity=name if entry_name != name else None,
                create_buckets=cred.spec.create_buckets,
            )
            for entry_name, pair in pairs
        )
    # An S3Bucket being deleted with deletionPolicy Delete asks the server to delete its bucket,
    # unless a live S3Bucket claims the name (the deleted one was not its owner, or a new one took it).
    deletions: dict[str, BucketDeletion] = {}
    for obj in sorted(buckets, key=lambda b: (b.created, b.namespace, b.name)):
        if not obj.deleting or obj.spec.deletion_policy is not DeletionPolicy.DELETE:
            continue
        try:
            name = bucket_name_for(obj.name, obj.spec)
        except InvalidSpec:
            continue
        if name not in claimed and name not in deletions:
            deletions[name] = BucketDeletion(name=name, force=obj.spec.force_delete)
    config = DeclaredConfig(
        buckets=[declared[name] for name in sorted(declared)],
        credentials=declared_credentials,
        deletions=[deletions[name] for name in sorted(deletions)],
    )
    return Plan(config=config, bucket_names=owner, conflicts=conflicts, missing=missing, refused=refused)


def dump_declared(config: DeclaredConfig) -> str:
    """The declared configuration as the YAML file the server reads (secrets revealed)."""
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    for entry, cred in zip(data["credentials"], config.credentials, strict=True):
        if cred.secret_access_key is not None:
            entry["secretAccessKey"] = cred.secret_access_key.get_secret_value()
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    # Refuse to hand the server a file it would reject.
    DeclaredConfig.model_validate(yaml.safe_load(text))
    return _HEADER + text


def load_declared(text: str | None) -> DeclaredConfig:
    """Parse a declared configuration; an absent or unreadable one counts as empty."""
    if not text:
        return DeclaredConfig()
    try:
        return DeclaredConfig.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValueError):
        return DeclaredConfig()


def _pair_named(config: DeclaredConfig, wanted: str) -> KeyPair | None:
    for cred in config.credentials:
        if cred.name == wanted and cred.secret_access_key is not None:
            return KeyPair(cred.access_key_id, cred.secret_access_key.get_secret_value())
    return None


def keys_from_declared(config: DeclaredConfig, namespace: str, name: str) -> KeySet | None:
    """The credential's keys in a declared configuration (the previous one without its expiry,
    which only the app Secret and the status hold)."""
    wanted = credential_id(namespace, name)
    current = _pair_named(config, wanted)
    if current is None:
        return None
    return KeySet(current, _pair_named(config, wanted + PREVIOUS_SUFFIX))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(data: str) -> str:
    return base64.b64decode(data).decode()


def managed_secret(
    name: str,
    namespace: str,
    component: str,
    data: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """An Opaque Secret this operator writes: its labels and component, `data` base64-encoded."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED_BY, "app.kubernetes.io/component": component, **(labels or {})},
            **metadata,
        },
        "data": {k: b64(v) for k, v in data.items()},
    }


def declared_secret(name: str, namespace: str, key: str, config: DeclaredConfig) -> dict[str, Any]:
    return managed_secret(name, namespace, "declared-config", {key: dump_declared(config)})


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def endpoint_host_port(endpoint: str) -> tuple[str, int]:
    """BUCKET_HOST and BUCKET_PORT (Rook's ObjectBucketClaim keys) from the endpoint URL."""
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.hostname or "", port


def bucket_keys(spec: CredentialSpec, bucket_names: Mapping[str, str]) -> dict[str, str]:
    """BUCKET_NAME (the first bound bucket) and BUCKET_NAME_<N> for every bound bucket.

    N is the 0-based position of the bucket in ``spec.buckets``, so a bucket keeps its
    key when an earlier one is not declared yet; BUCKET_NAME_0 is the first listed one.
    """
    keys: dict[str, str] = {}
    for index, ref in enumerate(spec.buckets):
        if ref.name in bucket_names:
            keys.setdefault("BUCKET_NAME", bucket_names[ref.name])
            keys[f"BUCKET_NAME_{index}"] = bucket_names[ref.name]
    return keys


def cosi_keys(keys: KeyPair, endpoint: str, region: str, bucket: str | None) -> dict[str, str]:
    """The COSI shapes: ``BucketInfo`` (v1alpha1, a JSON document) and ``COSI_*`` (v1alpha2, one
    value per key). COSI grants one bucket per access: the first bound bucket."""
    data = {
        "COSI_PROTOCOL": "S3",
        "COSI_S3_ENDPOINT": endpoint,
        "COSI_S3_REGION": region,
        # Path style works with any Service name; virtual hosts need DNS for every bucket.
        "COSI_S3_ADDRESSING_STYLE": "path",
        "COSI_S3_ACCESS_KEY_ID": keys.access_key_id,
        "COSI_S3_ACCESS_SECRET_KEY": keys.secret_access_key,
    }
    if bucket is None:
        return data
    data["COSI_S3_BUCKET_ID"] = bucket
    info = {
        "metadata": {"name": bucket},
        "spec": {
            "bucketName": bucket,
            "authenticationType": "KEY",
            "secretS3": {
                "endpoint": endpoint,
                "region": region,
                "accessKeyID": keys.access_key_id,
                "accessSecretKey": keys.secret_access_key,
            },
            "secretAzure": None,
            "protocols": ["s3"],
        },
    }
    data["BucketInfo"] = json.dumps(info, sort_keys=True)
    return data


def app_secret(
    *,
    namespace: str,
    credential: str,
    credential_uid: str,
    spec: CredentialSpec,
    keys: KeySet,
    rotation: str,
    endpoint: str,
    region: str,
    bucket_names: Mapping[str, str],
) -> dict[str, Any]:
    """The app-facing Secret: ``envFrom`` it and any AWS SDK finds the server and the key.

    ``bucket_names`` maps S3Bucket object names to S3 bucket names (the bound ones). Besides
    the AWS variables it carries Rook's BUCKET_HOST/BUCKET_PORT/BUCKET_NAME and COSI's keys.
    During a rotation overlap it also keeps the previous pair (PREVIOUS_*), because the
    declared configuration is rebuilt from these Secrets: losing it would revoke the old key.
    """
    host, port = endpoint_host_port(endpoint)
    buckets = bucket_keys(spec, bucket_names)
    data = {
        "AWS_ACCESS_KEY_ID": keys.current.access_key_id,
        "AWS_SECRET_ACCESS_KEY": keys.current.secret_access_key,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "BUCKET_HOST": host,
        "BUCKET_PORT": str(port),
        **buckets,
        **cosi_keys(keys.current, endpoint, region, buckets.get("BUCKET_NAME")),
    }
    annotations = {ROTATION_ANNOTATION: rotation}
    if keys.previous is not None and keys.previous_expires_at is not None:
        data[PREVIOUS_KEY_ID] = keys.previous.access_key_id
        data[PREVIOUS_SECRET_KEY] = keys.previous.secret_access_key
        annotations[PREVIOUS_EXPIRES_ANNOTATION] = format_time(keys.previous_expires_at)
    return managed_secret(
        spec.secret_name,
        namespace,
        "s3-credential",
        data,
        labels={CREDENTIAL_LABEL: credential},
        annotations=annotations,
        ownerReferences=[owner_reference("S3Credential", credential, credential_uid)],
    )


def secret_keys(secret: Mapping[str, Any]) -> KeyPair | None:
    """The key pair stored in an app Secret, if it holds a complete one."""
    data = secret.get("data") or {}
    try:
        key_id = unb64(data["AWS_ACCESS_KEY_ID"])
        secret_key = unb64(data["AWS_SECRET_ACCESS_KEY"])
    except (KeyError, ValueError):
        return None
    if len(key_id) < 3 or not secret_key:
        return None
    return KeyPair(key_id, secret_key)


def secret_key_set(secret: Mapping[str, Any], now: datetime.datetime) -> KeySet | None:
    """The keys an app Secret holds: its pair, plus the previous pair while it is still valid."""
    current = secret_keys(secret)
    if current is None:
        return None
    data = secret.get("data") or {}
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    previous = secret_keys(
        {
            "data": {
                "AWS_ACCESS_KEY_ID": data.get(PREVIOUS_KEY_ID, ""),
                "AWS_SECRET_ACCESS_KEY": data.get(PREVIOUS_SECRET_KEY, ""),
            }
        }
    )
    expires = parse_time(annotations.get(PREVIOUS_EXPIRES_ANNOTATION))
    return KeySet(current, previous, expires).without_expired(now)


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def secret_patch(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch taking ``existing`` to ``desired``; empty when nothing differs.

    Labels and annotations are merged (others' keys stay); ``data`` is made exact, with
    ``None`` removing keys we no longer write.
    """
    patch: dict[str, Any] = {}
    old_meta = existing.get("metadata") or {}
    new_meta = desired.get("metadata") or {}
    meta_patch: dict[str, Any] = {}
    for part in ("labels", "annotations"):
        old = old_meta.get(part) or {}
        new = new_meta.get(part) or {}
        changes: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
        if part == "annotations":
            # Our own annotations that the desired object no longer has are removed.
            changes.update({k: None for k in old if k.startswith(_OWN_ANNOTATIONS) and k not in new})
        if changes:
            meta_patch[part] = changes
    if "ownerReferences" in new_meta:
        old_refs = old_meta.get("ownerReferences") or []
        if [r.get("uid") for r in old_refs] != [r.get("uid") for r in new_meta["ownerReferences"]]:
            meta_patch["ownerReferences"] = new_meta["ownerReferences"]
    if meta_patch:
        patch["metadata"] = meta_patch
    old_data = existing.get("data") or {}
    new_data = desired.get("data") or {}
    data_patch: dict[str, Any] = {k: v for k, v in new_data.items() if old_data.get(k) != v}
    data_patch.update({k: None for k in old_data if k not in new_data})
    if data_patch:
        patch["data"] = data_patch
    return patch


def choose_keys(
    existing: Mapping[str, Any] | None,
    rotation: str,
    declared: KeySet | None,
    *,
    now: datetime.datetime,
    overlap: datetime.timedelta,
) -> tuple[KeySet, str]:
    """The keys a credential should have now, and how they were obtained.

    - ``kept``: the app Secret holds a complete pair made for the current rotate token
      (with its previous pair while the overlap lasts);
    - ``expired``: kept, and the previous pair's overlap has just ended;
    - ``rotated``: the rotate annotation changed since the Secret was written: a new pair,
      and the old one stays valid for ``overlap`` (0: revoked at once);
    - ``restored``: the app Secret is gone, the declared configuration still has the pair
      (so applications and server keep working with the same key);
    - ``generated``: nothing to keep, a fresh pair.
    """
    if existing is not None:
        held = secret_key_set(existing, now)
        token = ((existing.get("metadata") or {}).get("annotations") or {}).get(ROTATION_ANNOTATION, "")
        if token != rotation:
            if held is None or overlap <= datetime.timedelta(0):
                return KeySet(generate_keys()), "rotated"
            expires = now.replace(microsecond=0) + overlap
            return KeySet(generate_keys(), held.current, expires), "rotated"
        if held is not None:
            had_previous = PREVIOUS_KEY_ID in (existing.get("data") or {})
            return held, ("expired" if had_previous and held.previous is None else "kept")
    if declared is not None:
        return KeySet(declared.current), "restored"
    return KeySet(generate_keys()), "generated"
