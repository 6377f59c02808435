"""The REST API of packsync, mounted under /api/v1 on the daemon's app.

Use from an app factory::

    mount_api(app)                 # routes, body-size cap, error handlers
    configure_api(app, settings=..., pool=..., service=..., syncer=..., is_leader=...)

`deps.py` lists the `app.state` attributes the routes read.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from packsync.http.api import packs, versions, workflows
from packsync.http.api.auth import require_token
from packsync.http.api.deps import PackSyncer, WorkflowReader, configure_api
from packsync.http.api.errors import ApiError, install_error_handlers, responses
from packsync.http.api.limits import BodyLimitMiddleware

api_router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(require_token)],
    responses=responses(401, 403),
)
api_router.include_router(workflows.router)
api_router.include_router(packs.router)
api_router.include_router(versions.router)


def mount_api(app: FastAPI) -> None:
    """Add /api/v1, its body-size cap and the JSON error handlers to `app`
    (before it starts serving)."""
    app.include_router(api_router)
    app.add_middleware(BodyLimitMiddleware)
    install_error_handlers(app)


__all__ = [
    "ApiError",
    "PackSyncer",
    "WorkflowReader",
    "api_router",
    "configure_api",
    "install_error_handlers",
    "mount_api",
]
