"""The REST API as `packsync run` serves it: a real daemon process, real
inotify, real PostgreSQL. File-managed and API-sourced workflows side by side."""

from __future__ import annotations

from pathlib import Path

import httpx

from packsync.config import Settings
from tests.support.daemon import DaemonProcess, daemon_env, until
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write

TOKEN = "e2e-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_daemon_serves_the_api_next_to_the_watcher(
    settings: Settings, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "demo", {"deploy.yaml": workflow_yaml("Deploy")})
    daemon = DaemonProcess(daemon_env(settings, ATTUNE__API_TOKEN=TOKEN), cwd=tmp_path)
    try:
        await until(lambda: daemon.port is not None or daemon.proc.poll() is not None, 60)
        assert daemon.port is not None, "".join(daemon.raw)
        url = f"http://127.0.0.1:{daemon.port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await until(ready, 60, "first full sync")
            # the token is required, and never echoed back in logs
            assert (await client.get("/api/v1/workflows")).status_code == 401
            listed = await client.get("/api/v1/workflows", headers=AUTH)
            assert listed.status_code == 200, listed.text
            assert [w["ref"] for w in listed.json()["data"]] == ["demo.deploy"]
            assert listed.json()["pagination"]["total_items"] == 1

            # a file-managed workflow cannot be edited through the API
            conflict = await client.put(
                "/api/v1/workflows/demo.deploy", json={"label": "x"}, headers=AUTH
            )
            assert conflict.status_code == 409
            assert "workflows/deploy.yaml" in conflict.text

            # an API-sourced workflow survives the watcher's syncs of its pack
            created = await client.post(
                "/api/v1/workflows",
                json={
                    "ref": "demo.from_api",
                    "label": "From the API",
                    "definition": {
                        "version": "1.0",
                        "tasks": [{"name": "only", "action": "core.noop"}],
                    },
                },
                headers=AUTH,
            )
            assert created.status_code == 201, created.text
            write(base / "demo" / "workflows" / "new.yaml", workflow_yaml("New"))

            async def both() -> bool:
                r = await client.get("/api/v1/packs/demo/workflows", headers=AUTH)
                refs = {w["ref"] for w in r.json()["data"]}
                return refs == {"demo.deploy", "demo.new", "demo.from_api"}

            await until(both, 30, "watcher sync beside the API workflow")

            synced = await client.post("/api/v1/packs/demo/workflows/sync", headers=AUTH)
            assert synced.status_code == 200, synced.text
            assert synced.json()["data"]["pack_ref"] == "demo"
        assert TOKEN not in "".join(daemon.raw)
    finally:
        assert daemon.stop() == 0
