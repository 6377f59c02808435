"""One error shape for every failure of /api/v1: `{"error": {code, message, details}}`.

Routes raise `ApiError`; the handlers installed by `install_error_handlers`
also turn FastAPI's request-validation errors, unknown routes, a lost
database and unexpected exceptions into that shape, so a client never has to
parse two formats and bad input never surfaces as a bare 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from packsync.http.api.models import ErrorResponse
from packsync.sync.database import DatabaseUnavailable, is_connection_error

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    503: "unavailable",
}


class ApiError(Exception):
    """An expected failure with its HTTP status and stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can answer."""
    return {
        status: {"model": ErrorResponse, "description": _describe(status)} for status in statuses
    }


def _describe(status: int) -> str:
    return {
        400: "Malformed request (bad JSON, bad ref format).",
        401: "Missing or wrong bearer token.",
        403: "The API is disabled: no api_token is configured.",
        404: "No such workflow or pack.",
        409: "Conflict: duplicate ref, the workflow is managed by a file, or the pack is "
        "locked by another process's sync.",
        413: "Request body over the cap (4 x max_file_size).",
        422: "The request or the workflow definition is invalid (located diagnostics).",
        503: "Standby replica (writes go to the leader), database unreachable, or packs "
        "directory unavailable.",
    }.get(status, "Error.")


# ---------------------------------------------------------------- database outages
# Raised when the server is gone, restarting or refusing connections.
_OUTAGES: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    OSError,
    TimeoutError,
)


# ---------------------------------------------------------------- handlers
def _loc_to_path(loc: Sequence[Any]) -> str:
    """("body", "definition", "tasks", 0) → `$.definition.tasks[0]`;
    ("query", "page") → `query:page`."""
    parts = list(loc)
    if not parts:
        return "$"
    head, rest = parts[0], parts[1:]
    if head != "body":
        return f"{head}:" + ".".join(str(p) for p in rest)
    path = "$"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "location": [str(p) for p in e.get("loc", ())],
            "json_path": _loc_to_path(e.get("loc", ())),
            "message": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(
            400, "malformed-json", "the request body is not valid JSON", {"errors": errors}
        )
    summary = "; ".join(f"{'.'.join(e['location'])}: {e['message']}" for e in errors[:5])
    return error_response(422, "invalid-request", f"invalid request: {summary}", {"errors": errors})


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("-", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if is_connection_error(exc):
        log.warning("api.database_unavailable", path=request.url.path, error=str(exc))
        return error_response(
            503,
            "database-unavailable",
            "the database is unreachable; retry later",
            headers={"Retry-After": "5"},
        )
    log.exception("api.internal_error", path=request.url.path, method=request.method)
    return error_response(500, "internal-error", "internal error; see the daemon's log")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error of `app` through the one JSON error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database outages raised deep in a service call: 503, not 500. Registered by
    # class so they are answered in the exception middleware (not re-raised).
    for exc_type in _OUTAGES:
        app.add_exception_handler(exc_type, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
