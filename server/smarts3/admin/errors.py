"""The one failure type of `smarts3 admin`: its message is the whole report."""

from __future__ import annotations


class AdminError(Exception):
    """Printed as one line (no traceback); the command exits with status 1."""
