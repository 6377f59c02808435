"""Probes and /metrics served by uvicorn on the test's own loop (port 0)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from packsync.daemon.state import DaemonState, PackStatus
from packsync.http.app import create_app
from packsync.http.server import HttpServer, PortInUse
from packsync.metrics import Metrics

SPEC_METRICS = {
    "packsync_sync_runs": ("counter", {"trigger", "outcome"}),
    "packsync_sync_duration_seconds": ("histogram", set()),
    "packsync_workflow_changes": ("counter", {"change"}),
    "packsync_workflows": ("gauge", set()),
    "packsync_packs": ("gauge", set()),
    "packsync_invalid_files": ("gauge", set()),
    "packsync_fs_events": ("counter", set()),
    "packsync_pending_packs": ("gauge", set()),
    "packsync_reconcile_drift": ("counter", set()),
    "packsync_last_success_timestamp_seconds": ("gauge", set()),
    "packsync_db_up": ("gauge", set()),
    "packsync_leader": ("gauge", set()),
    "packsync_watcher_polling": ("gauge", set()),
    "packsync_mass_delete_refused": ("gauge", set()),
    "packsync_build_info": ("gauge", {"version"}),
}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[DaemonState, httpx.AsyncClient]]:
    state = DaemonState(metrics=Metrics("9.9.9"), sync_group="g1", base_dir=str(tmp_path))
    server = HttpServer(create_app(state), "127.0.0.1", 0)
    port = await server.start()
    assert port > 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield state, client
    await server.stop()


async def test_metrics_has_every_spec_metric_initialised(
    served: tuple[DaemonState, httpx.AsyncClient],
) -> None:
    _, client = served
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    for name, (kind, labels) in SPEC_METRICS.items():
        fam = families[name]
        assert fam.type == kind, name
        assert fam.samples, f"{name} has no series"
        for sample in fam.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
            assert "pack" not in sample.labels
    runs = [s for s in families["packsync_sync_runs"].samples if s.name.endswith("_total")]
    assert {s.labels["trigger"] for s in runs} == {
        "startup",
        "watch",
        "reconcile",
        "api",
        "cli",
        "signal",
    }
    assert all(s.value == 0 for s in runs)
    info = families["packsync_build_info"].samples[0]
    assert info.labels == {"version": "9.9.9"} and info.value == 1


async def test_recorded_sync_shows_up(served: tuple[DaemonState, httpx.AsyncClient]) -> None:
    state, client = served
    state.metrics.record_sync(
        trigger="watch", outcome="ok", duration=0.02, created=2, unchanged=3, finished_at=1.7e9
    )
    text = (await client.get("/metrics")).text
    assert 'packsync_sync_runs_total{outcome="ok",trigger="watch"} 1.0' in text
    assert 'packsync_workflow_changes_total{change="created"} 2.0' in text
    assert "packsync_last_success_timestamp_seconds 1.7e+09" in text


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package prometheus; .ci/run installs it)",
)
async def test_metrics_pass_promtool_lint(served: tuple[DaemonState, httpx.AsyncClient]) -> None:
    state, client = served
    state.metrics.record_sync(trigger="watch", outcome="ok", duration=0.02, created=1)
    text = (await client.get("/metrics")).text
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr


async def test_healthz_and_readyz_follow_state(
    served: tuple[DaemonState, httpx.AsyncClient],
) -> None:
    state, client = served
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["initial_sync"] is False
    state.set_role(True)
    state.first_sync_done = True
    state.set_db_up(True)
    assert (await client.get("/readyz")).status_code == 200
    state.set_db_up(False)  # readiness checks the database, liveness never does
    assert (await client.get("/readyz")).status_code == 503
    assert (await client.get("/healthz")).status_code == 200
    state.watcher_alive = lambda: False
    dead = await client.get("/healthz")
    assert dead.status_code == 503 and dead.json()["checks"]["watcher"] is False


async def test_readiness_needs_the_packs_directory_liveness_does_not(
    served: tuple[DaemonState, httpx.AsyncClient],
) -> None:
    state, client = served
    state.set_role(True)
    state.first_sync_done = True
    state.set_db_up(True)
    assert (await client.get("/readyz")).status_code == 200
    Path(state.base_dir).rename(state.base_dir + ".away")
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["packs_dir"] is False
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/status", "/metrics"])
async def test_probes_answer_head(served: tuple[DaemonState, httpx.AsyncClient], path: str) -> None:
    state, client = served
    state.set_role(True)
    state.first_sync_done = True
    state.set_db_up(True)
    resp = await client.head(path)
    assert resp.status_code == 200 and resp.content == b""


async def test_role_is_unknown_while_the_database_is_down(
    served: tuple[DaemonState, httpx.AsyncClient],
) -> None:
    state, client = served
    state.set_role(False)
    assert (await client.get("/status")).json()["role"] == "unknown"
    state.set_db_up(True)
    assert (await client.get("/status")).json()["role"] == "standby"


async def test_status_json(served: tuple[DaemonState, httpx.AsyncClient]) -> None:
    state, client = served
    state.set_role(True)
    state.set_db_up(True)
    state.set_watcher("polling", "too many folders")
    failing = {"/p/demo/workflows/x.yaml": ["/p/demo/workflows/x.yaml:3:5: error[c]: m"]}
    state.packs["demo"] = PackStatus(
        last_sync=1.7e9, last_outcome="errors", syncs=2, errors=1, failing_files=failing
    )
    state.pending = lambda: ["other"]
    body = (await client.get("/status")).json()
    assert body["role"] == "leader"
    assert body["watcher"] == {
        "mode": "polling",
        "alive": True,
        "fallback_reason": "too many folders",
    }
    assert body["pending_packs"] == ["other"]
    assert body["packs"]["demo"]["errors"] == 1 and body["packs"]["demo"]["syncs"] == 2
    assert body["packs"]["demo"]["failing_files"] == failing
    assert body["packs"]["demo"]["last_sync"].startswith("2023-11-14T")


async def test_a_stalled_loop_fails_the_probe(
    served: tuple[DaemonState, httpx.AsyncClient],
) -> None:
    import concurrent.futures
    import time

    _, client = served
    url = str(client.base_url.join("/healthz"))

    def probe() -> int:
        return httpx.get(url, timeout=0.5).status_code

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(probe)
        time.sleep(1.5)  # the loop the server runs on is blocked
        with pytest.raises(httpx.TimeoutException):
            future.result(timeout=10)
    assert (await client.get("/healthz")).status_code == 200


async def test_port_in_use_is_an_oserror_not_a_process_exit() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(create_app(DaemonState(metrics=Metrics())), "127.0.0.1", port)
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            await server.start()


def test_failing_files_are_grouped_by_file_and_bounded() -> None:
    from packsync.core.diagnostics import error
    from packsync.core.results import PackResult, WorkflowResult
    from packsync.daemon.syncer import failing_files

    bad = [
        WorkflowResult(
            ref=f"demo.w{i}",
            file_path=f"workflows/w{i}.yaml",
            change="failed",
            errors=[
                error(f"/p/demo/workflows/w{i}.yaml", "c", f"m{j}", 1, j + 1) for j in range(15)
            ],
        )
        for i in range(30)
    ]
    result = PackResult("demo", outcome="errors", workflows=bad)
    assert result.failed == 30
    files = failing_files(result)
    assert len(files) == 20
    assert files["/p/demo/workflows/w0.yaml"][0] == "/p/demo/workflows/w0.yaml:1:1: error[c]: m0"
    assert all(len(lines) == 10 for lines in files.values())
