"""The Range header with S3's semantics (one range only; suffix and open-ended forms)."""

from __future__ import annotations

from smarts3.s3.errors import S3Error


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The [start, end) slice a Range header asks for, or None to send everything.

    S3 ignores a syntactically invalid or multi-range header and sends the whole
    object; a well-formed range that starts past the end is 416 InvalidRange.
    """
    value = header.strip()
    if not value.startswith("bytes="):
        return None
    spec = value[6:].strip()
    if "," in spec or "-" not in spec:
        return None
    first, _, last = (part.strip() for part in spec.partition("-"))
    if not first.isdigit() and first != "":
        return None
    if not last.isdigit() and last != "":
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0:
            raise _unsatisfiable(header, size)
        return (max(0, size - suffix), size)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    end = size - 1 if last == "" else min(int(last), size - 1)
    return (start, end + 1)


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        fields={"RangeRequested": header, "ActualObjectSize": str(size)},
        headers={"content-range": f"bytes */{size}"},
    )


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"
