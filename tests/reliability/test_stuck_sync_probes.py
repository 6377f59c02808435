"""Readiness and liveness reflect a sync that does not end. Past
pack_sync_timeout_seconds the pack is being abandoned: not ready. Past that
plus the time its rollback and cancel may take (each bounded by the statement
timeout), the bounding itself failed: not live, so the orchestrator restarts
the daemon. Served over real HTTP on the test's loop."""

from __future__ import annotations

from pathlib import Path

import httpx

from packsync.daemon.state import DaemonState
from packsync.http.app import create_app
from packsync.http.server import HttpServer
from packsync.metrics import Metrics


async def test_probes_follow_the_age_of_the_running_sync(tmp_path: Path) -> None:
    running_for = [0.0]
    state = DaemonState(
        metrics=Metrics("9.9.9"),
        role="leader",
        db_up=True,
        first_sync_done=True,
        base_dir=str(tmp_path),  # readiness also needs the packs directory
    )
    state.in_flight_for = lambda: running_for[0]
    state.sync_timeout = 300.0
    state.sync_stuck_after = 330.0
    server = HttpServer(create_app(state), "127.0.0.1", 0)
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def probes() -> tuple[int, int, dict[str, object]]:
                ready = await client.get("/readyz")
                live = await client.get("/healthz")
                status = (await client.get("/status")).json()
                return ready.status_code, live.status_code, status

            assert (await probes())[:2] == (200, 200)

            running_for[0] = 120.0  # a big pack, still within its bound
            ready, live, status = await probes()
            assert (ready, live) == (200, 200) and status["running_for_seconds"] == 120.0

            running_for[0] = 301.0  # past pack_sync_timeout_seconds: being abandoned
            ready, live, _ = await probes()
            assert (ready, live) == (503, 200)
            body = (await client.get("/readyz")).json()
            assert body["checks"]["sync_progress"] is False

            running_for[0] = 331.0  # even abandoning it failed: restart me
            ready, live, _ = await probes()
            assert (ready, live) == (503, 503)
            assert (await client.get("/healthz")).json()["checks"]["sync_not_stuck"] is False
    finally:
        await server.stop()
