"""One process-wide budget for request bytes held in memory.

Each upload buffers up to 1 MiB before a disk write and an XML body is read
whole (up to 2 MiB), which is fine for one request and not for a thousand
slow ones holding their buffers at once. Writers that find the budget spent
write through in small pieces; an XML body that does not fit is refused with
503 SlowDown, which clients retry.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LIMIT: Final = 64 * 1024 * 1024


class ByteBudget:
    """A counter, not a lock: every caller runs on its worker's one event loop."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        self.held += size

    def release(self, size: int) -> None:
        self.held = max(0, self.held - size)

    def try_take(self, size: int) -> bool:
        """Take `size` bytes unless that would overspend the budget."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    @property
    def spent(self) -> bool:
        return self.held >= self.limit


BUDGET = ByteBudget()
