"""FastAPI app factory: probes, metrics and /api/v1 on one app.

The interactive docs load Swagger UI from the installed `swagger-ui-bundle`
package, never from a CDN, so /docs works on an air-gapped host.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from packsync import __version__
from packsync.http import probes
from packsync.http.api import mount_api
from packsync.http.status import DaemonStatus

_ASSETS = "/docs/assets"


def _operation_id(route: APIRoute) -> str:
    """`listWorkflows`-style ids from the handler names, for generated clients."""
    head, *rest = route.name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def create_app(state: DaemonStatus) -> FastAPI:
    from swagger_ui_bundle import swagger_ui_path

    app = FastAPI(
        title="packsync",
        version=__version__,
        description="Keeps an Attune workflow database true to the packs on disk.",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.daemon = state
    app.include_router(probes.router)
    mount_api(app)
    app.mount(_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="packsync API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon-32x32.png",
        )

    return app
