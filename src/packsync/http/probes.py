"""Probes and metrics. They run on the daemon's own loop: a stalled loop
fails them, which is the point of a liveness probe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from packsync.http.status import DaemonStatus
from packsync.metrics import CONTENT_TYPE

router = APIRouter()


class _PrometheusText(Response):
    media_type = CONTENT_TYPE


def _state(request: Request) -> DaemonStatus:
    state: DaemonStatus = request.app.state.daemon
    return state


@router.head("/healthz", include_in_schema=False)
@router.get(
    "/healthz",
    summary="Liveness: event loop and watcher alive (no database check)",
)
async def healthz(request: Request) -> JSONResponse:
    ok, checks = _state(request).live()
    body: dict[str, Any] = {"status": "ok" if ok else "failing", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.head("/readyz", include_in_schema=False)
@router.get(
    "/readyz",
    summary="Readiness: first full sync done, database reachable, packs directory present",
)
async def readyz(request: Request) -> JSONResponse:
    ok, checks = _state(request).ready()
    body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.head("/status", include_in_schema=False)
@router.get(
    "/status",
    summary="Role, watcher mode, per-pack last sync, failing files with their diagnostics",
)
async def status(request: Request) -> JSONResponse:
    return JSONResponse(_state(request).status())


@router.head("/metrics", include_in_schema=False)
@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=_PrometheusText,
)
async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)
