"""Bucket policies: the IAM policy language as S3 reads it, parsed and validated once, evaluated per request.

Pure: no I/O. `parse` refuses what S3 refuses (MalformedPolicy with its reason); `Policy.evaluate`
answers DENY, ALLOW or None (no statement applies) for one caller, action and resource.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

from smarts3.access.policy_conditions import Facts, PolicyError, Test, fixed_values, glob_match, parse_conditions

MAX_POLICY_BYTES = 20 * 1024  # S3: a bucket policy is at most 20 KB
VERSIONS = frozenset({"2012-10-17", "2008-10-17"})
_ARN_PREFIX = "arn:aws:s3:::"
_IAM_ARN = re.compile(r"arn:aws:iam::([^:]*):(root|user/(.+))")
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
# Keys that pin an anonymous caller to a known source: a policy limited by one is not public (AWS).
_FIXING_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:userid",
        "aws:username",
        "s3:dataaccesspointarn",
        "s3:dataaccesspointaccount",
    }
)


class Verdict(enum.Enum):
    DENY = "deny"
    ALLOW = "allow"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, as a policy can name them. Anonymous: no ids."""

    ids: frozenset[str] = frozenset()  # canonical id, access key id
    name: str | None = None  # matched by arn:aws:iam::<account>:user/<name>
    root: bool = False  # matched by arn:aws:iam::<account>:root

    @property
    def anonymous(self) -> bool:
        return not self.ids and self.name is None


@dataclass(frozen=True, slots=True)
class Principals:
    """A Principal or NotPrincipal element: `*`, or the AWS / CanonicalUser values it lists."""

    everyone: bool
    values: tuple[str, ...] = ()

    def matches(self, caller: Caller) -> bool:
        if self.everyone:
            return True
        for value in self.values:
            if value in caller.ids:
                return True
            arn = _IAM_ARN.fullmatch(value)
            if arn and ((arn.group(2) == "root" and caller.root) or (arn.group(3) and arn.group(3) == caller.name)):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    allow: bool
    principal: Principals | None  # exactly one of principal / not_principal
    not_principal: Principals | None
    actions: tuple[str, ...]  # lower-case patterns
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Test, ...]

    def applies(self, caller: Caller, action: str, resource: str, facts: Facts) -> bool:
        if self.principal is not None and not self.principal.matches(caller):
            return False
        if self.not_principal is not None and self.not_principal.matches(caller):
            return False
        action = action.lower()
        if self.actions and not any(glob_match(p, action) for p in self.actions):
            return False
        if self.not_actions and any(glob_match(p, action) for p in self.not_actions):
            return False
        if self.resources and not any(_resource_match(p, resource) for p in self.resources):
            return False
        if self.not_resources and any(_resource_match(p, resource) for p in self.not_resources):
            return False
        return all(test.holds(facts) for test in self.conditions)

    @property
    def public(self) -> bool:
        """An Allow any caller may get: Principal `*` (or NotPrincipal) without a pinning condition."""
        open_to_all = self.not_principal is not None or (self.principal is not None and self.principal.everyone)
        return self.allow and open_to_all and not fixed_values(self.conditions, _FIXING_KEYS)


@dataclass(frozen=True, slots=True)
class Policy:
    text: str  # as given: GetBucketPolicy answers it unchanged
    statements: tuple[Statement, ...]

    def evaluate(self, caller: Caller, action: str, resource: str, facts: Facts) -> Verdict | None:
        verdict = None
        for statement in self.statements:
            if statement.applies(caller, action, resource, facts):
                if not statement.allow:
                    return Verdict.DENY
                verdict = Verdict.ALLOW
        return verdict

    @property
    def public(self) -> bool:
        return any(s.public for s in self.statements)

    @property
    def uses_existing_tags(self) -> bool:
        return any(t.key.startswith("s3:existingobjecttag/") for s in self.statements for t in s.conditions)


def resource_arn(bucket: str, key: str | None) -> str:
    return f"{_ARN_PREFIX}{bucket}" if key is None else f"{_ARN_PREFIX}{bucket}/{key}"


def _resource_match(pattern: str, resource: str) -> bool:
    return pattern == "*" or glob_match(pattern, resource)


def parse(text: str | bytes, bucket: str, known_actions: frozenset[str]) -> Policy:
    """A validated policy for `bucket`, or PolicyError with S3's reason. `known_actions` are
    lower-case `s3:` names; an action without a wildcard must be one of them."""
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_BYTES:
            raise PolicyError("Policies must be less than 20 KB")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError("Policies must be valid JSON and the first byte must be '{'") from None
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise PolicyError("Policies must be less than 20 KB")
    if not text.lstrip().startswith("{"):
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise PolicyError(str(exc) if isinstance(exc, PolicyError) else "This policy contains invalid Json") from None
    if not isinstance(document, dict):
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"Unknown field {sorted(unknown)[0]}")
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError("The policy must contain a valid version string")
    raw = document.get("Statement")
    if raw is None:
        raise PolicyError("Missing required field Statement")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise PolicyError("Could not parse the policy: Statement is empty!")
    statements = tuple(_statement(item, bucket, known_actions) for item in items)
    sids = [s.sid for s in statements if s.sid is not None]
    if len(sids) != len(set(sids)):
        raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
    return Policy(text, statements)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise PolicyError(f"Duplicate field {key}")
        out[key] = value
    return out


def _strings(raw: object, field: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise PolicyError(f"Policy has an invalid {field}")
    return tuple(str(i) for i in items)


def _one_of(item: dict[str, object], a: str, b: str, required: bool = True) -> tuple[object, object]:
    if a in item and b in item:
        raise PolicyError(f"Statement cannot have both {a} and {b}")
    if required and a not in item and b not in item:
        raise PolicyError(f"Missing required field {a}")
    return item.get(a), item.get(b)


def _statement(item: object, bucket: str, known_actions: frozenset[str]) -> Statement:
    if not isinstance(item, dict):
        raise PolicyError("Statement must be an object")
    unknown = set(item) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"Unknown field {sorted(unknown)[0]}")
    sid = item.get("Sid")
    if sid is not None and (not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9 ]*", sid)):
        raise PolicyError("Statement IDs (SID) must be alpha-numeric.")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError("Invalid effect: " + str(effect) if effect is not None else "Missing required field Effect")
    principal, not_principal = _one_of(item, "Principal", "NotPrincipal")
    action, not_action = _one_of(item, "Action", "NotAction")
    resource, not_resource = _one_of(item, "Resource", "NotResource")
    conditions = parse_conditions(item["Condition"]) if "Condition" in item else ()
    return Statement(
        sid=sid,
        allow=effect == "Allow",
        principal=None if principal is None else _principals(principal),
        not_principal=None if not_principal is None else _principals(not_principal),
        actions=_actions(action, known_actions),
        not_actions=_actions(not_action, known_actions),
        resources=_resources(resource, bucket),
        not_resources=_resources(not_resource, bucket),
        conditions=conditions,
    )


def _principals(raw: object) -> Principals:
    if raw == "*":
        return Principals(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise PolicyError("Invalid principal in policy")
    values: list[str] = []
    for kind, listed in raw.items():
        if kind not in ("AWS", "CanonicalUser"):
            raise PolicyError("Invalid principal in policy")
        for value in _strings(listed, "principal"):
            if value == "*" and kind == "AWS":
                return Principals(everyone=True)
            if value.startswith("arn:") and not _IAM_ARN.fullmatch(value):
                raise PolicyError("Invalid principal in policy")
            values.append(value)
    return Principals(everyone=False, values=tuple(values))


def _actions(raw: object, known: frozenset[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    out = []
    for action in _strings(raw, "action"):
        lowered = action.lower()
        if lowered == "*":
            out.append("*")
            continue
        service, _, name = lowered.partition(":")
        wild = "*" in name or "?" in name
        if service != "s3" or not name or (not wild and lowered not in known):
            raise PolicyError("Policy has invalid action")
        out.append(lowered)
    return tuple(out)


def _resources(raw: object, bucket: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    out = []
    for resource in _strings(raw, "resource"):
        if resource != "*":
            named = resource.removeprefix(_ARN_PREFIX).split("/", 1)[0]
            if not resource.startswith(_ARN_PREFIX) or not glob_match(named, bucket):
                raise PolicyError("Policy has invalid resource")
        out.append(resource)
    return tuple(out)

