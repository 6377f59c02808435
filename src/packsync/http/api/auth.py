"""Bearer-token auth for /api/v1.

The API is closed unless `api_token` is configured: no token means 403 for
every request, never an open API. The comparison is constant-time
(`hmac.compare_digest` over bytes) so response timing does not leak the
token. Probes and /metrics are on other routers and stay open.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from packsync.http.api.deps import get_settings
from packsync.http.api.errors import ApiError

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="The daemon's `api_token` (setting `api_token`, env `ATTUNE__API_TOKEN`).",
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="packsync"'}


def token_matches(provided: str, expected: str) -> bool:
    """Constant-time comparison; non-ASCII input is compared as UTF-8 bytes."""
    return hmac.compare_digest(
        provided.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


async def require_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
) -> None:
    """Dependency of every /api/v1 route."""
    secret = get_settings(request).api_token
    expected = secret.get_secret_value() if secret is not None else ""
    if not expected:
        raise ApiError(
            403,
            "api-disabled",
            "the API is disabled because no api_token is configured; set api_token "
            "(ATTUNE__API_TOKEN) and restart the daemon",
        )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token: send 'Authorization: Bearer <api_token>'",
            headers=_CHALLENGE,
        )
    if not token_matches(credentials.credentials, expected):
        raise ApiError(401, "unauthorized", "invalid bearer token", headers=_CHALLENGE)
