"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks streaming and context variables)."""

from smarts3.middleware.observe import AccessLogMiddleware, MetricsMiddleware, ObserveMiddleware

__all__ = ["AccessLogMiddleware", "MetricsMiddleware", "ObserveMiddleware"]
