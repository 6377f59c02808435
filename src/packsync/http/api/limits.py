"""A cap on request bodies under /api/v1.

uvicorn and FastAPI read a body whole before any route runs, so without a
cap one request could make the daemon buffer gigabytes. The cap follows
`max_file_size` (a workflow sent as JSON is the same document as a file):
four times it, 4 MiB by default. A declared Content-Length over the cap is
refused before reading; a chunked body is counted as it streams.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from packsync.config import Settings
from packsync.http.api.errors import error_response

PREFIX = "/api/v1"
FACTOR = 4
DEFAULT_LIMIT = 4 * 1024 * 1024


def body_limit(app: Any) -> int:
    settings = getattr(getattr(app, "state", None), "settings", None)
    if isinstance(settings, Settings):
        return FACTOR * settings.max_file_size
    return DEFAULT_LIMIT


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit} bytes (4 x max_file_size)"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("app"))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(413, "payload-too-large", _too_large(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPExceptions from body reading as they are.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)
