"""Bearer-token auth for /api/v1.

The API is closed unless `api_token` is configured: no token means 403 for
every request, never an open API. The comparison is constant-time
(`hmac.compare_digest` over bytes) so response timing does not leak the
token. Probes and /metrics are on other routers and stay open.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
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
_audit = structlog.get_logger("packsync.api.audit")


def token_id(token: str) -> str:
    """Who wrote, without the secret: the first 12 hex digits of the token's SHA-256
    (the same on every replica, so log lines of one caller can be joined)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def audit(request: Request, action: str, ref: str, **details: object) -> None:
    """One log line per API write: who (token id, client address), what, which ref."""
    client = request.client.host if request.client is not None else None
    _audit.info(
        "api write",
        action=action,
        ref=ref,
        token_id=getattr(request.state, "token_id", None),
        client=client,
        **details,
    )


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
    request.state.token_id = token_id(expected)
