"""FastAPI app factory: probes, metrics and /api/v1 on one app."""

from __future__ import annotations

from fastapi import FastAPI

from packsync import __version__
from packsync.daemon.state import DaemonState
from packsync.http import probes
from packsync.http.api import mount_api


def create_app(state: DaemonState) -> FastAPI:
    app = FastAPI(
        title="packsync",
        version=__version__,
        description="Keeps an Attune workflow database true to the packs on disk.",
    )
    app.state.daemon = state
    app.include_router(probes.router)
    mount_api(app)
    return app
