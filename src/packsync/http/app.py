"""FastAPI app factory: routers are mounted here so /api/v1 can be added later."""

from __future__ import annotations

from fastapi import FastAPI

from packsync import __version__
from packsync.daemon.state import DaemonState
from packsync.http import probes


def create_app(state: DaemonState) -> FastAPI:
    app = FastAPI(title="packsync", version=__version__)
    app.state.daemon = state
    app.include_router(probes.router)
    return app
