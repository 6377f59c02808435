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
    ("post", "/api/v1/packs/{ref}/workflows/validate"),
}
WRITES = {
    ("post", "/api/v1/workflows"),
    ("put", "/api/v1/workflows/{ref}"),
    ("delete", "/api/v1/workflows/{ref}"),
    ("post", "/api/v1/packs/{ref}/workflows/sync"),
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
