"""Status conditions in the Kubernetes convention (type, status, reason, message, times)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

READY = "Ready"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    existing: Sequence[Mapping[str, Any]] | None,
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    timestamp: str | None = None,
) -> list[dict[str, Any]]:
    """Return ``existing`` with the condition ``type_`` replaced.

    ``lastTransitionTime`` moves only when the status flips, as the convention asks.
    """
    value = "True" if status else "False"
    previous = next((c for c in existing or () if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != value
    condition: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": ((timestamp or now()) if changed or previous is None else previous["lastTransitionTime"]),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [dict(c) for c in existing or () if c.get("type") != type_]
    return [*others, condition]


def ready_status(
    current: Mapping[str, Any] | None,
    *,
    ok: bool,
    reason: str,
    message: str,
    generation: int | None,
    **fields: Any,
) -> dict[str, Any]:
    """A status patch: the Ready condition, observedGeneration and extra fields."""
    conditions = set_condition(
        (current or {}).get("conditions"),
        type_=READY,
        status=ok,
        reason=reason,
        message=message,
        generation=generation,
    )
    patch: dict[str, Any] = {"conditions": conditions, **fields}
    if generation is not None:
        patch["observedGeneration"] = generation
    return patch


def update(
    patch_status: MutableMapping[str, Any], current: Mapping[str, Any] | None, desired: Mapping[str, Any]
) -> None:
    """Put into ``patch_status`` only the fields of ``desired`` that differ from ``current``.

    Writing an unchanged status would still bump resourceVersion and wake every watcher;
    timers call this on every tick.
    """
    for key, value in desired.items():
        if (current or {}).get(key) != value:
            patch_status[key] = value


def is_ready(status: Mapping[str, Any] | None) -> bool:
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == READY:
            return bool(condition.get("status") == "True")
    return False


def condition_reason(status: Mapping[str, Any] | None) -> str | None:
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == READY:
            return str(condition.get("reason"))
    return None
