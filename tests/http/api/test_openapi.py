"""The OpenAPI document: every operation, schema, property and parameter described."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from packsync.http.api import mount_api

EXPECTED = {
    ("get", "/api/v1/workflows"),
    ("post", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{ref}"),
    ("put", "/api/v1/workflows/{ref}"),
    ("delete", "/api/v1/workflows/{ref}"),
    ("get", "/api/v1/packs/{ref}/workflows"),
    ("post", "/api/v1/packs/{ref}/workflows/sync"),
    ("post", "/api/v1/packs/{ref}/workflows/plan"),
    ("post", "/api/v1/packs/{ref}/workflows/validate"),
    ("get", "/api/v1/workflows/{ref}/versions"),
    ("get", "/api/v1/workflows/{ref}/versions/{version}"),
    ("post", "/api/v1/workflows/{ref}/versions/{version}/restore"),
}
WRITES = {
    ("post", "/api/v1/workflows"),
    ("put", "/api/v1/workflows/{ref}"),
    ("delete", "/api/v1/workflows/{ref}"),
    ("post", "/api/v1/packs/{ref}/workflows/sync"),
    ("post", "/api/v1/workflows/{ref}/versions/{version}/restore"),
}


def _spec() -> dict[str, Any]:
    app = FastAPI(title="packsync")
    mount_api(app)
    return app.openapi()


def test_every_operation_is_documented_and_secured() -> None:
    spec = _spec()
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert found == EXPECTED
    for method, path in EXPECTED:
        op = spec["paths"][path][method]
        assert op.get("summary") and op.get("description"), (method, path)
        assert op["security"] == [{"bearerAuth": []}]
        codes = set(op["responses"])
        assert {"401", "403", "422", "503"} <= codes, (method, path, codes)
        if (method, path) in WRITES:
            assert "409" in codes or path.endswith("/sync")
        for param in op.get("parameters", []):
            assert param.get("description"), (method, path, param["name"])
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, code)


def test_every_schema_and_property_is_described() -> None:
    schemas = _spec()["components"]["schemas"]
    assert {"WorkflowSummary", "WorkflowDetail", "PackSyncResult", "ErrorResponse"} <= set(schemas)
    assert "HTTPValidationError" not in schemas  # 422 uses the packsync error shape
    for name, schema in schemas.items():
        assert schema.get("description"), name
        for prop, sub in schema.get("properties", {}).items():
            assert sub.get("description"), f"{name}.{prop}"


def _daemon_app() -> FastAPI:
    from packsync.daemon.state import DaemonState
    from packsync.http.app import create_app
    from packsync.metrics import Metrics

    return create_app(DaemonState(metrics=Metrics()))


def test_operation_ids_are_named_not_generated() -> None:
    spec = _daemon_app().openapi()
    ids = {
        (method, path): op["operationId"]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    assert ids[("get", "/api/v1/workflows")] == "listWorkflows"
    assert ids[("get", "/healthz")] == "healthz"
    assert len(set(ids.values())) == len(ids)
    assert all("_" not in i and "api_v1" not in i for i in ids.values()), ids


def test_metrics_is_declared_as_prometheus_text() -> None:
    op = _daemon_app().openapi()["paths"]["/metrics"]["get"]
    (media,) = op["responses"]["200"]["content"]
    assert media.startswith("text/plain") and "version=" in media


async def test_docs_page_loads_swagger_ui_from_the_package_not_a_cdn() -> None:
    import httpx

    transport = httpx.ASGITransport(app=_daemon_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = (await client.get("/docs")).text
        assert "cdn" not in page.lower() and "http://" not in page and "https://" not in page
        for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            assert asset in page
            resp = await client.get(asset)
            assert resp.status_code == 200 and len(resp.content) > 10_000, asset
