"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks streaming and context variables)."""

from smarts3.middleware.access_log import AccessLogMiddleware
from smarts3.middleware.metrics import MetricsMiddleware

__all__ = ["AccessLogMiddleware", "MetricsMiddleware"]
