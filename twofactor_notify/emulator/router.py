"""Which route answers an API path."""

from __future__ import annotations

from .context import Context
from .routes import bulk, encrypted, otp, r1
from .wire import Request, Response, api_error

__all__ = ["route"]


def route(request: Request, ctx: Context) -> Response:
    """Answer an API request (everything outside ``/__emulator__/``)."""
    path = request.path
    if path.startswith("/API/V1/"):
        return otp.handle(request, ctx)
    if path in ("/API/R1/", "/API/R1"):
        if request.query and request.query_params().get("module") == "ENC":
            return encrypted.handle(request, ctx)
        return r1.handle(request, ctx)
    if path in ("/API/R1/Bulk/", "/API/R1/Bulk"):
        return bulk.handle(request, ctx)
    return api_error("Invalid Request - Unknown API Endpoint", 404)
