"""Signatures of browser POST forms: SigV4 or SigV2 over the base64 policy document.

The crypto is the request signers' own (sigv4.signing_key/sign, sigv2.sign); only which
fields carry what differs. Field names are lower-case here (HTML form names are
case-insensitive to S3).
"""

from __future__ import annotations

from collections.abc import Mapping

from smarts3.auth import sigv2, sigv4
from smarts3.auth.types import AuthError, CredentialStore

V4_ALGORITHM = "AWS4-HMAC-SHA256"


def _invalid(message: str) -> AuthError:
    return AuthError("InvalidArgument", message, 400)


def _secret(creds: CredentialStore, access_key: str) -> str:
    secret = creds.secret_for(access_key)
    if secret is None:
        error = AuthError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        error.access_key = access_key
        raise error
    return secret


def form_signer(fields: Mapping[str, str], creds: CredentialStore) -> tuple[str | None, int]:
    """(access key, signature version) of a verified form; (None, 0) for an anonymous one.

    Raises AuthError: InvalidArgument for a form that signs half-way, InvalidAccessKeyId,
    SignatureDoesNotMatch.
    """
    policy = fields.get("policy")
    if "x-amz-signature" in fields or "x-amz-credential" in fields or "x-amz-algorithm" in fields:
        return _v4(fields, policy, creds), 4
    if "signature" in fields or "awsaccesskeyid" in fields:
        return _v2(fields, policy, creds), 2
    if policy is not None:
        raise _invalid("Bucket POST must contain a field named 'AWSAccessKeyId'.  If it is specified, please check "
                       "the order of the fields.")
    return None, 0


def _required(fields: Mapping[str, str], name: str, spelled: str) -> str:
    value = fields.get(name)
    if value is None:
        raise _invalid(f"Bucket POST must contain a field named '{spelled}'.  If it is specified, please check the "
                       "order of the fields.")
    return value


def _v4(fields: Mapping[str, str], policy: str | None, creds: CredentialStore) -> str:
    algorithm = _required(fields, "x-amz-algorithm", "X-Amz-Algorithm")
    credential = _required(fields, "x-amz-credential", "X-Amz-Credential")
    _required(fields, "x-amz-date", "X-Amz-Date")
    signature = _required(fields, "x-amz-signature", "X-Amz-Signature")
    policy = _required(fields, "policy", "Policy") if policy is None else policy
    if algorithm != V4_ALGORITHM:
        raise _invalid(f"Unsupported algorithm {algorithm!r}; only {V4_ALGORITHM} is supported.")
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request" or not parts[0]:
        raise _invalid(f"Invalid credential {credential!r}: <key>/<YYYYMMDD>/<region>/s3/aws4_request expected.")
    access_key, date, region = parts[0], parts[1], parts[2]
    key = sigv4.signing_key(_secret(creds, access_key), date, region, "s3")
    if not sigv4.signatures_equal(sigv4.sign(key, policy), signature):
        raise _mismatch(access_key)
    return access_key


def _v2(fields: Mapping[str, str], policy: str | None, creds: CredentialStore) -> str:
    access_key = _required(fields, "awsaccesskeyid", "AWSAccessKeyId")
    signature = _required(fields, "signature", "Signature")
    policy = _required(fields, "policy", "Policy") if policy is None else policy
    if not sigv4.signatures_equal(sigv2.sign(_secret(creds, access_key), policy), signature):
        raise _mismatch(access_key)
    return access_key


def _mismatch(access_key: str) -> AuthError:
    error = AuthError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )
    error.access_key = access_key
    return error
