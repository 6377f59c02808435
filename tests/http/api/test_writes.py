"""POST/PUT/DELETE of API-sourced workflows: validation, conflicts, file-managed rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from packsync.sync.service import SyncService
from tests.support.api import error_of
from tests.support.attunerows import insert_attune_action
from tests.support.packfactory import workflow_yaml, write

# Every test here runs on packsync's bootstrap and on Attune's real schema.
pytestmark = pytest.mark.both_schemas

GOOD = {
    "version": "1.0",
    "tasks": [
        {"name": "start", "action": "core.echo", "input": {"message": "{{ parameters.who }}"}},
    ],
}


def body(ref: str = "ops.notify", **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "label": "Notify", "definition": GOOD, **extra}


async def create(client: httpx.AsyncClient, **kw: Any) -> httpx.Response:
    return await client.post("/api/v1/workflows", json=body(**kw))


async def companion(pool: asyncpg.Pool, ref: str) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT a.ref, a.label, a.description, a.entrypoint, a.param_schema, a.runtime,"
            " a.is_adhoc FROM action a JOIN workflow_definition w ON w.id = a.workflow_def"
            " WHERE w.ref = $1",
            ref,
        )
    return None if row is None else dict(row)


async def test_create_and_read_back(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool, check_db: Any
) -> None:
    response = await create(
        client,
        description="Tells people",
        tags=["chat"],
        param_schema={"who": {"type": "string", "required": True}},
    )
    assert response.status_code == 201, response.text
    payload = response.json()
    data = payload["data"]
    assert data["ref"] == "ops.notify" and data["pack_ref"] == "ops"
    assert data["source"] == "api" and data["file_path"] is None
    assert data["label"] == "Notify" and data["description"] == "Tells people"
    assert data["version"] == "1.0" and data["tags"] == ["chat"] and data["enabled"] is True
    # the flat StackStorm form is normalised to JSON Schema, like in files
    assert data["param_schema"] == {
        "type": "object",
        "properties": {"who": {"type": "string"}},
        "required": ["who"],
    }
    assert data["definition"]["tasks"][0]["type"] == "action"  # normalised definition
    assert len(data["content_hash"]) == 64
    assert "created" in payload["message"]
    detail = (await client.get("/api/v1/workflows/ops.notify")).json()["data"]
    assert detail == data
    listed = (await client.get("/api/v1/packs/ops/workflows", params={"tags": "chat"})).json()
    assert [w["ref"] for w in listed["data"]] == ["ops.notify"]
    # the companion action Attune's registrar would create
    assert await companion(pool, "ops.notify") == {
        "ref": "ops.notify",
        "label": "Notify",
        "description": "Tells people",
        "entrypoint": "workflows/notify.workflow.yaml",
        "param_schema": data["param_schema"],
        "runtime": None,
        "is_adhoc": False,
    }
    check_db()


async def test_pack_ref_defaults_from_ref_and_must_match(
    client: httpx.AsyncClient, catalogue: None
) -> None:
    response = await create(client, ref="web.ping", pack_ref="web")
    assert response.status_code == 201, response.text
    response = await create(client, ref="web.pong", pack_ref="ops")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "ref-pack-mismatch"
    assert error["details"]["errors"][0]["json_path"] == "$.ref"


async def test_unknown_pack_is_404(client: httpx.AsyncClient, catalogue: None) -> None:
    response = await create(client, ref="ghost.notify")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "pack-not-found" and error["details"]["pack_ref"] == "ghost"


async def test_duplicate_refs_are_409(client: httpx.AsyncClient, catalogue: None) -> None:
    assert (await create(client)).status_code == 201
    response = await create(client)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "duplicate-ref" and error["details"]["file"] is None
    # a ref owned by a file: the message names the file
    response = await create(client, ref="ops.deploy")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "duplicate-ref"
    assert error["details"]["file"].endswith("ops/workflows/deploy.yaml")
    assert "ops/workflows/deploy.yaml" in error["message"]


async def test_invalid_definition_is_422_with_json_paths(
    client: httpx.AsyncClient, catalogue: None
) -> None:
    definition = {
        "version": "1.0",
        "tasks": [
            {"name": "a", "action": "core.echo", "next": [{"do": ["b2"]}]},
            {"name": "b", "action": "core.echo", "on_sucess": "a"},
        ],
    }
    response = await client.post(
        "/api/v1/workflows",
        json={"ref": "ops.bad", "definition": definition, "out_schema": {"type": "nonsense"}},
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid-workflow"
    by_code = {d["code"]: d for d in error["details"]["diagnostics"]}
    assert by_code["unknown-task"]["json_path"] == "$.definition.tasks[0].next[0].do[0]"
    assert "did you mean 'b'" in by_code["unknown-task"]["message"]
    assert by_code["unknown-key"]["json_path"] == "$.definition.tasks[1].on_sucess"
    # out_schema came from the request field: its path points there
    assert any(d["json_path"].startswith("$.out_schema") for d in by_code.values()), by_code
    for d in error["details"]["diagnostics"]:
        assert d["file"] == "api:ops.bad" and d["line"] == 0 and d["column"] == 0
    # nothing was written
    assert (await client.get("/api/v1/workflows/ops.bad")).status_code == 404


async def test_missing_version_and_tasks(client: httpx.AsyncClient, catalogue: None) -> None:
    response = await client.post("/api/v1/workflows", json={"ref": "ops.x", "definition": {}})
    assert response.status_code == 422
    diagnostics = error_of(response)["details"]["diagnostics"]
    assert {d["code"] for d in diagnostics} == {"required"}
    assert {d["json_path"] for d in diagnostics} == {"$.definition"}
    assert any("version" in d["message"] for d in diagnostics)
    assert any("tasks" in d["message"] for d in diagnostics)


async def test_warnings_are_reported_not_blocking(
    client: httpx.AsyncClient, catalogue: None
) -> None:
    definition = {"version": "1.0", "tasks": [{"name": "a", "action": "elsewhere.thing"}]}
    response = await client.post(
        "/api/v1/workflows", json={"ref": "ops.remote", "definition": definition}
    )
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert warnings and all(w["severity"] == "warning" for w in warnings)
    assert "warning" in response.json()["message"]


async def test_malformed_requests(client: httpx.AsyncClient, catalogue: None) -> None:
    response = await client.post(
        "/api/v1/workflows", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and error_of(response)["code"] == "malformed-json"
    cases: list[Any] = [
        [],
        {"ref": "ops.x"},  # no definition
        {"ref": "Ops.x", "definition": GOOD},  # bad ref format
        {"ref": "ops.x", "definition": GOOD, "colour": "red"},  # unknown key
        {"ref": "ops.x", "definition": "tasks: []"},  # not an object
        {"ref": "ops.x", "definition": GOOD, "tags": "a,b"},
    ]
    for case in cases:
        response = await client.post("/api/v1/workflows", json=case)
        assert response.status_code == 422, (case, response.text)
        assert error_of(response)["code"] == "invalid-request"


async def test_unstorable_values_are_422(client: httpx.AsyncClient, catalogue: None) -> None:
    nul = {"version": "1.0", "tasks": [{"name": "a\x00", "action": "core.echo"}]}
    response = await client.post("/api/v1/workflows", json={"ref": "ops.x", "definition": nul})
    assert response.status_code == 422 and error_of(response)["code"] == "invalid-value"
    assert "$.definition.tasks[0].name" in error_of(response)["message"]
    raw = b'{"ref": "ops.x", "definition": {"version": "1", "tasks": [], "vars": {"n": NaN}}}'
    response = await client.post(
        "/api/v1/workflows", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid-value"
    assert "$.definition.vars.n" in error_of(response)["message"]
    deep: Any = GOOD
    for _ in range(200):
        deep = {"x": deep}
    response = await client.post("/api/v1/workflows", json={"ref": "ops.x", "definition": deep})
    assert response.status_code == 422 and error_of(response)["code"] == "invalid-value"


async def test_partial_update(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool, check_db: Any
) -> None:
    created = (await create(client, tags=["a"])).json()["data"]
    response = await client.put("/api/v1/workflows/ops.notify", json={"label": "Shout"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["label"] == "Shout"
    action = await companion(pool, "ops.notify")
    assert action is not None and action["label"] == "Shout"  # the action follows
    assert data["tags"] == ["a"] and data["definition"]["tasks"] == created["definition"]["tasks"]
    assert data["updated"] >= created["updated"] and data["created"] == created["created"]
    # explicit null clears an optional field
    data = (
        await client.put("/api/v1/workflows/ops.notify", json={"description": None, "tags": []})
    ).json()["data"]
    assert data["description"] is None and data["tags"] == []
    # a new definition replaces the old one, stored columns are kept
    new = {"version": "2.0", "tasks": [{"name": "only", "action": "core.noop"}]}
    data = (await client.put("/api/v1/workflows/ops.notify", json={"definition": new})).json()[
        "data"
    ]
    assert data["version"] == "2.0" and data["label"] == "Shout"
    assert [t["name"] for t in data["definition"]["tasks"]] == ["only"]
    assert data["content_hash"] != created["content_hash"]
    response = await client.put("/api/v1/workflows/ops.notify", json={"enabled": False})
    assert response.json()["data"]["enabled"] is False
    assert [
        w["ref"] for w in (await client.get("/api/v1/workflows?enabled=false")).json()["data"]
    ] == [
        "ops.notify",
        "ops.scratch",
    ]
    check_db()


async def test_update_keeps_transitions_valid(client: httpx.AsyncClient, catalogue: None) -> None:
    """The stored definition is normalised (unconditional transitions carry
    `when: null`); a label-only update must re-validate it, not reject it."""
    definition = {
        "version": "1.0",
        "tasks": [
            {"name": "a", "action": "core.echo", "next": [{"do": ["b"]}]},
            {"name": "b", "action": "core.noop", "on_success": "c"},
            {"name": "c", "action": "core.noop"},
        ],
    }
    response = await client.post(
        "/api/v1/workflows", json={"ref": "ops.chain", "definition": definition}
    )
    assert response.status_code == 201, response.text
    stored = response.json()["data"]["definition"]
    response = await client.put("/api/v1/workflows/ops.chain", json={"label": "Chain"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["label"] == "Chain"
    assert [t["next"] for t in data["definition"]["tasks"]] == [t["next"] for t in stored["tasks"]]


async def test_update_errors(client: httpx.AsyncClient, catalogue: None) -> None:
    assert (await create(client)).status_code == 201
    bad = {
        "version": "1.0",
        "tasks": [{"name": "a", "action": "core.echo", "next": [{"do": "zz"}]}],
    }
    response = await client.put("/api/v1/workflows/ops.notify", json={"definition": bad})
    assert response.status_code == 422
    assert error_of(response)["details"]["diagnostics"][0]["json_path"].startswith("$.definition")
    assert (await client.get("/api/v1/workflows/ops.notify")).json()["data"]["label"] == "Notify"
    response = await client.put("/api/v1/workflows/ops.notify", json={"version": None})
    assert response.status_code == 422  # version is required
    response = await client.put("/api/v1/workflows/ops.notify", json={})
    assert response.status_code == 400 and error_of(response)["code"] == "empty-update"
    response = await client.put("/api/v1/workflows/ops.notify", json={"ref": "ops.other"})
    assert response.status_code == 422  # ref cannot change
    response = await client.put("/api/v1/workflows/ops.ghost", json={"label": "x"})
    assert response.status_code == 404 and error_of(response)["code"] == "workflow-not-found"


async def test_file_managed_workflows_are_read_only(
    client: httpx.AsyncClient, catalogue: None
) -> None:
    for method, payload in (("PUT", {"label": "x"}), ("DELETE", None)):
        response = await client.request(method, "/api/v1/workflows/ops.deploy", json=payload)
        assert response.status_code == 409, response.text
        error = error_of(response)
        assert error["code"] == "file-managed"
        assert error["details"]["file"].endswith("ops/workflows/deploy.yaml")
        assert "edit that file" in error["message"]
    data = (await client.get("/api/v1/workflows/ops.deploy")).json()["data"]
    assert data["label"] == "Deploy" and data["source"] == "file"


async def test_delete(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool, check_db: Any
) -> None:
    created = (await create(client)).json()["data"]
    assert await companion(pool, "ops.notify") is not None
    response = await client.delete("/api/v1/workflows/ops.notify")
    assert response.status_code == 200
    async with pool.acquire() as conn:  # the companion action went with it
        assert await conn.fetchval("SELECT count(*) FROM action WHERE ref = 'ops.notify'") == 0
    check_db()
    assert response.json()["data"] == {"id": created["id"], "ref": "ops.notify"}
    assert (await client.get("/api/v1/workflows/ops.notify")).status_code == 404
    response = await client.delete("/api/v1/workflows/ops.notify")
    assert response.status_code == 404 and error_of(response)["code"] == "workflow-not-found"


async def test_workflows_attune_wrote_are_read_only(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO workflow_definition (ref, pack, pack_ref, label, version, definition)"
            " SELECT 'ops.native', id, ref, 'Native', '1.0', '{\"tasks\": []}' FROM pack"
            " WHERE ref = 'ops'"
        )
    data = (await client.get("/api/v1/workflows/ops.native")).json()["data"]
    assert data["source"] == "attune" and data["enabled"] is True
    for method, payload in (("PUT", {"label": "x"}), ("DELETE", None)):
        response = await client.request(method, "/api/v1/workflows/ops.native", json=payload)
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "attune-managed"
    response = await create(client, ref="ops.native")
    assert response.status_code == 409 and error_of(response)["code"] == "duplicate-ref"
    assert (await client.get("/api/v1/workflows/ops.native")).json()["data"]["label"] == "Native"


async def test_api_workflows_survive_file_sync(
    client: httpx.AsyncClient, catalogue: None, api_service: SyncService, packs: Path
) -> None:
    assert (await create(client)).status_code == 201
    (packs / "ops" / "workflows" / "backup.yaml").unlink()
    result = await api_service.sync_pack("ops", trigger="cli")
    assert result.deleted == 1
    refs = [w["ref"] for w in (await client.get("/api/v1/packs/ops/workflows")).json()["data"]]
    assert refs == ["ops.deploy", "ops.notify", "ops.scratch"]
    report = await api_service.sync_all(trigger="reconcile")
    assert report.totals["deleted"] == 0
    assert (await client.get("/api/v1/workflows/ops.notify")).status_code == 200


async def test_concurrent_creates_of_one_ref(client: httpx.AsyncClient, catalogue: None) -> None:
    import asyncio

    responses = await asyncio.gather(*(create(client) for _ in range(5)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409, 409, 409, 409], [r.text for r in responses]


async def test_a_file_never_overwrites_an_api_workflow(
    client: httpx.AsyncClient, catalogue: None, api_service: SyncService, packs: Path
) -> None:
    created = (await create(client)).json()["data"]
    write(packs / "ops" / "workflows" / "notify.yaml", workflow_yaml("From file"))
    result = await api_service.sync_pack("ops", trigger="cli")
    assert result.failed == 1  # reported as a conflict, not silently skipped
    assert [e.code for w in result.workflows for e in w.errors] == ["ref-conflict"]
    data = (await client.get("/api/v1/workflows/ops.notify")).json()["data"]
    assert data["source"] == "api" and data["label"] == "Notify"
    assert data["definition"] == created["definition"]


async def test_oversized_bodies_are_413(client: httpx.AsyncClient, catalogue: None) -> None:
    big = b'{"ref": "ops.x", "definition": {"version": "1", "pad": "' + b"x" * (4 << 20) + b'"}}'
    response = await client.post(
        "/api/v1/workflows", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and error_of(response)["code"] == "payload-too-large"

    async def chunks() -> Any:  # no Content-Length: counted while streaming
        yield b'{"ref": "ops.x", "definition": {"pad": "'
        for _ in range(5):
            yield b"x" * (1 << 20)
        yield b'"}}'

    response = await client.put(
        "/api/v1/workflows/ops.deploy",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413 and error_of(response)["code"] == "payload-too-large"
    # just under the cap is read normally (and then judged on its content)
    response = await client.post(
        "/api/v1/workflows", json={"ref": "ops.y", "definition": GOOD, "description": "d" * 1000}
    )
    assert response.status_code == 201, response.text


async def test_actions_of_packs_registered_only_in_attune_are_checked(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool
) -> None:
    await insert_attune_action(pool, "remote", "remote.ping")
    calls = {"version": "1.0", "tasks": [{"name": "go", "action": "remote.ping"}]}
    response = await client.post(
        "/api/v1/workflows", json={"ref": "ops.far", "label": "Far", "definition": calls}
    )
    assert response.status_code == 201, response.text
    assert not response.json().get("warnings")  # no unknown-pack warning either
    calls["tasks"][0]["action"] = "remote.pong"  # type: ignore[index]
    response = await client.post(
        "/api/v1/workflows", json={"ref": "ops.near", "label": "Near", "definition": calls}
    )
    assert response.status_code == 422
    codes = [d["code"] for d in error_of(response)["details"]["diagnostics"]]
    assert codes == ["unknown-action"]


async def test_every_write_is_logged_with_who_what_and_ref(
    client: httpx.AsyncClient, catalogue: None
) -> None:
    import structlog

    from packsync.http.api.auth import token_id
    from tests.support.api import TOKEN

    with structlog.testing.capture_logs() as logs:
        assert (await create(client)).status_code == 201
        update = await client.put("/api/v1/workflows/ops.notify", json={"description": "x"})
        assert update.status_code == 200, update.text
        assert (await client.delete("/api/v1/workflows/ops.notify")).status_code == 200
        refused = await client.delete("/api/v1/workflows/ops.notify")  # 404: no write
        assert refused.status_code == 404
    writes = [e for e in logs if e["event"] == "api write"]
    assert [(e["action"], e["ref"]) for e in writes] == [
        ("create", "ops.notify"),
        ("update", "ops.notify"),
        ("delete", "ops.notify"),
    ]
    assert {e["token_id"] for e in writes} == {token_id(TOKEN)}
    assert writes[1]["fields"] == ["description"]
    assert TOKEN not in repr(logs)
