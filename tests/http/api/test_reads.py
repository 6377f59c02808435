"""GET /workflows (filters, pagination), GET /workflows/{ref}, GET /packs/{pack}/workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from packsync.sync.service import SyncService
from tests.support.api import error_of
from tests.support.packfactory import write

ALL = ["ops.backup", "ops.deploy", "ops.scratch", "web.build"]

# Every test here runs on packsync's bootstrap and on Attune's real schema.
pytestmark = pytest.mark.both_schemas


async def refs(
    client: httpx.AsyncClient, url: str = "/api/v1/workflows", **params: Any
) -> list[str]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [w["ref"] for w in response.json()["data"]]


async def test_list_empty(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/workflows")).json()
    assert body["data"] == []
    assert body["pagination"] == {
        "page": 1,
        "page_size": 50,
        "total_items": 0,
        "total_pages": 0,
        "has_previous": False,
        "has_next": False,
    }
    assert "message" in body


async def test_list_summaries(client: httpx.AsyncClient, catalogue: None) -> None:
    body = (await client.get("/api/v1/workflows")).json()
    assert [w["ref"] for w in body["data"]] == ALL
    deploy = body["data"][1]
    assert deploy["pack_ref"] == "ops" and deploy["label"] == "Deploy"
    assert deploy["tags"] == ["prod", "ci"] and deploy["enabled"] is True
    assert deploy["source"] == "file" and deploy["file_path"] == "workflows/deploy.yaml"
    assert deploy["created"] and deploy["updated"] and deploy["failing"] is False
    assert "definition" not in deploy  # summaries stay light


async def test_filters(client: httpx.AsyncClient, catalogue: None) -> None:
    assert await refs(client, tags="ci") == ["ops.deploy", "web.build"]
    assert await refs(client, tags="dev, ci") == ["ops.deploy", "ops.scratch", "web.build"]
    assert await refs(client, tags=",,") == ALL  # no tags given: no tag filter
    assert await refs(client, tags="nope") == []
    assert await refs(client, enabled="false") == ["ops.scratch"]
    assert await refs(client, enabled="true") == ["ops.backup", "ops.deploy", "web.build"]
    assert await refs(client, search="the app") == ["ops.deploy"]  # description, any case
    assert await refs(client, search="BACKUP") == ["ops.backup"]  # label
    assert await refs(client, search="web.") == ["web.build"]  # ref
    assert await refs(client, search="100%") == []  # wildcards are literal
    assert await refs(client, pack="web") == ["web.build"]
    assert await refs(client, pack="nope") == []
    assert await refs(client, pack_ref="web") == ["web.build"]  # Attune's name
    response = await client.get("/api/v1/workflows", params={"pack": "web", "pack_ref": "ops"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "conflicting-parameters"
    assert await refs(client, pack="ops", tags="prod", enabled="true", search="dep") == [
        "ops.deploy"
    ]


async def test_pagination(client: httpx.AsyncClient, catalogue: None) -> None:
    body = (await client.get("/api/v1/workflows", params={"page": 2, "page_size": 3})).json()
    assert [w["ref"] for w in body["data"]] == ["web.build"]
    assert body["pagination"] == {
        "page": 2,
        "page_size": 3,
        "total_items": 4,
        "total_pages": 2,
        "has_previous": True,
        "has_next": False,
    }
    body = (await client.get("/api/v1/workflows", params={"page": 1, "page_size": 3})).json()
    assert len(body["data"]) == 3 and body["pagination"]["has_next"] is True
    # past the end: empty page, not an error, total still counted
    body = (await client.get("/api/v1/workflows", params={"page": 99, "page_size": 3})).json()
    assert body["data"] == [] and body["pagination"]["total_items"] == 4
    assert (await client.get("/api/v1/workflows", params={"page_size": 500})).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "two"},
        {"page": 10**7},
        {"page_size": 0},
        {"page_size": 501},
        {"enabled": "maybe"},
        {"search": "x" * 201},
    ],
)
async def test_bad_query_parameters(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get("/api/v1/workflows", params=params)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid-request"
    name = next(iter(params))
    assert any(e["location"] == ["query", name] for e in error["details"]["errors"]), error


async def test_unstorable_parameters_are_400(client: httpx.AsyncClient) -> None:
    for params in ({"search": "a\x00b"}, {"tags": "\x00"}, {"pack": "x\x00"}):
        response = await client.get("/api/v1/workflows", params=params)
        assert response.status_code == 400, response.text
        assert error_of(response)["code"] == "invalid-parameter"


async def test_get_detail(client: httpx.AsyncClient, catalogue: None) -> None:
    response = await client.get("/api/v1/workflows/ops.deploy")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["ref"] == "ops.deploy" and data["source"] == "file"
    assert data["file_path"] == "workflows/deploy.yaml"
    assert len(data["content_hash"]) == 64
    assert data["definition"]["tasks"] and data["param_schema"]["type"] == "object"
    assert data["sync_errors"] == [] and data["failing"] is False
    assert data["created"] <= data["updated"]


async def test_get_unknown_is_404(client: httpx.AsyncClient) -> None:
    for ref in ("ops.nope", "nodot", "x" * 255):
        response = await client.get(f"/api/v1/workflows/{ref}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "workflow-not-found"
    response = await client.get(f"/api/v1/workflows/{'x' * 256}")
    assert response.status_code == 422


async def test_failing_file_shows_last_good_version_and_errors(
    client: httpx.AsyncClient, catalogue: None, api_service: SyncService, packs: Path
) -> None:
    write(packs / "ops" / "workflows" / "deploy.yaml", "version: '1.0'\nlabel: Broken\n")
    result = await api_service.sync_pack("ops", trigger="cli")
    assert result.failed == 1
    data = (await client.get("/api/v1/workflows/ops.deploy")).json()["data"]
    assert data["label"] == "Deploy"  # last good version kept
    assert data["failing"] is True
    assert data["sync_errors"], data
    first = data["sync_errors"][0]
    assert first["severity"] == "error" and first["file"].endswith("workflows/deploy.yaml")
    assert {"line", "column", "code", "message", "json_path"} <= set(first)
    listed = (await client.get("/api/v1/workflows", params={"search": "deploy"})).json()
    assert listed["data"][0]["failing"] is True


async def test_pack_workflows(client: httpx.AsyncClient, catalogue: None) -> None:
    assert await refs(client, "/api/v1/packs/ops/workflows") == [
        "ops.backup",
        "ops.deploy",
        "ops.scratch",
    ]
    assert await refs(client, "/api/v1/packs/ops/workflows", tags="dev") == ["ops.scratch"]
    body = (await client.get("/api/v1/packs/ops/workflows", params={"page_size": 1})).json()
    assert body["pagination"]["total_items"] == 3 and body["pagination"]["total_pages"] == 3
    # a registered pack with no workflows is an empty list, not a 404
    assert await refs(client, "/api/v1/packs/core/workflows") == []


async def test_pack_workflows_unknown_and_malformed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/packs/nope/workflows")
    assert response.status_code == 404 and error_of(response)["code"] == "pack-not-found"
    for bad in ("Ops", "1abc", "a.b", "%2e%2e", "a%00b"):
        response = await client.get(f"/api/v1/packs/{bad}/workflows")
        assert response.status_code in (400, 404), (bad, response.text)
        if response.status_code == 400:
            assert error_of(response)["code"] in ("pack-ref-format", "invalid-parameter")


async def test_unknown_route_uses_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing")
    assert response.status_code == 404 and error_of(response)["code"] == "not-found"
    response = await client.patch("/api/v1/workflows")
    assert response.status_code == 405 and error_of(response)["code"] == "method-not-allowed"


async def test_never_registered_failing_file_explains_the_404(
    client: httpx.AsyncClient, catalogue: None, api_service: SyncService, packs: Path
) -> None:
    write(packs / "ops" / "workflows" / "fresh.yaml", "version: '1.0'\nlabel: No tasks\n")
    result = await api_service.sync_pack("ops", trigger="cli")
    assert result.failed == 1
    response = await client.get("/api/v1/workflows/ops.fresh")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "workflow-not-found"
    assert error["details"]["file"].endswith("ops/workflows/fresh.yaml")
    assert "fails validation" in error["message"]
    assert error["details"]["diagnostics"][0]["code"] == "required"


async def test_odd_stored_errors_do_not_break_reads(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool
) -> None:
    """An error row written by another version in another shape still reads."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO workflow_sync_error (pack_ref, file_path, ref, errors)"
            " VALUES ('ops', 'workflows/deploy.yaml', 'ops.deploy', $1::jsonb)",
            [{"message": "old shape", "severity": "fatal"}, {"code": "x"}],
        )
    response = await client.get("/api/v1/workflows/ops.deploy")
    assert response.status_code == 200, response.text
    errors = response.json()["data"]["sync_errors"]
    assert len(errors) == 2 and errors[0]["message"] == "old shape"
    assert all(e["severity"] == "error" for e in errors)
