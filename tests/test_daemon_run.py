"""The daemon in-process with real inotify and a real PostgreSQL: every kind of
change on disk reaches the database, storms sync each pack about once."""

from __future__ import annotations

import os
import shutil

import httpx
from prometheus_client.parser import text_string_to_metric_families

from packsync.config import Settings
from tests.daemon_support import InProcess, fast_settings, until, workflows
from tests.packfactory import make_core_pack, make_pack, workflow_yaml


async def test_changes_on_disk_reach_the_database(settings: Settings, pg_url: str) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})
    s = fast_settings(settings)
    schema = s.db_schema

    async def labels() -> dict[str, str | None]:
        return await workflows(pg_url, schema)

    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        assert (await labels()) == {"alpha.one": "One", "beta.b": "B"}
        assert daemon.state.role == "leader"

        wf = base / "alpha" / "workflows"
        (wf / "two.yaml").write_text(workflow_yaml("Two"))  # create
        await until(lambda: _has(labels, "alpha.two", "Two"), what="create")

        (wf / "one.yaml").write_text(workflow_yaml("One v2"))  # modify
        await until(lambda: _has(labels, "alpha.one", "One v2"), what="modify")

        (wf / ".two.yaml.swp").write_text(workflow_yaml("Two saved"))  # editor atomic save
        os.rename(wf / ".two.yaml.swp", wf / "two.yaml")
        await until(lambda: _has(labels, "alpha.two", "Two saved"), what="atomic save")

        (wf / "one.yaml").unlink()  # delete
        await until(lambda: _lacks(labels, "alpha.one"), what="delete")

        make_pack(base, "gamma", {"g.yaml": workflow_yaml("G")})  # new pack
        await until(lambda: _has(labels, "gamma.g", "G"), what="new pack")

        shutil.rmtree(base / "beta")  # removed pack (1 of 4: under the guard)
        await until(lambda: _lacks(labels, "beta.b"), what="removed pack")

        assert await labels() == {"alpha.two": "Two saved", "gamma.g": "G"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.state.http_port}") as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/readyz")).status_code == 200
            status = (await c.get("/status")).json()
            assert status["role"] == "leader" and status["watcher"]["mode"] == "inotify"
            assert status["packs"]["alpha"]["syncs"] >= 4
            assert "beta" not in status["packs"]
            text = (await c.get("/metrics")).text
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        value = {s.name: s.value for f in fams.values() for s in f.samples if not s.labels}
        assert value["packsync_leader"] == 1 and value["packsync_db_up"] == 1
        assert value["packsync_workflows"] == 2 and value["packsync_packs"] == 3
        assert value["packsync_fs_events_total"] > 0
        watch_ok = [
            s
            for s in fams["packsync_sync_runs"].samples
            if s.labels.get("trigger") == "watch" and s.labels.get("outcome") == "ok"
        ]
        assert watch_ok[0].value >= 4


async def _has(labels, ref: str, label: str) -> bool:  # type: ignore[no-untyped-def]
    return (await labels()).get(ref) == label


async def _lacks(labels, ref: str) -> bool:  # type: ignore[no-untyped-def]
    return ref not in await labels()


async def test_storm_across_many_packs_syncs_each_pack_about_once(
    settings: Settings, pg_url: str
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    refs = [f"p{i:02d}" for i in range(20)]
    for ref in refs:
        make_pack(base, ref, {f"w{j}.yaml": workflow_yaml("v1") for j in range(5)})
    s = fast_settings(settings, debounce_seconds=0.3, debounce_max_wait_seconds=5.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        before = {ref: daemon.state.packs[ref].syncs for ref in refs}
        for _round in range(3):  # a git checkout rewriting 300 files
            for ref in refs:
                for j in range(5):
                    (base / ref / "workflows" / f"w{j}.yaml").write_text(workflow_yaml("v2"))

        async def done() -> bool:
            rows = await workflows(pg_url, s.db_schema)
            return all(rows.get(f"{r}.w{j}") == "v2" for r in refs for j in range(5))

        await until(done, 60, what="storm converged")
        await until(lambda: daemon.scheduler.idle(), what="idle")
        extra = [daemon.state.packs[ref].syncs - before[ref] for ref in refs]
        assert all(1 <= n <= 2 for n in extra), extra  # about once each
        assert sum(extra) <= len(refs) + 3


async def test_polling_mode_converges(settings: Settings, pg_url: str) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings, watcher="polling")
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        assert daemon.state.watcher_mode == "polling"
        assert daemon.metrics.watcher_polling._value.get() == 1
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Polled"))
        make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})

        async def done() -> bool:
            rows = await workflows(pg_url, s.db_schema)
            return rows.get("alpha.one") == "Polled" and rows.get("beta.b") == "B"

        await until(done, what="polling converged")


async def test_sighup_style_reconcile_counts_drift(settings: Settings, pg_url: str) -> None:
    """A change the watcher cannot see (written while the watcher is stopped,
    like an inotify queue overflow) is found by the reconcile and counted."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        assert daemon.watcher is not None
        daemon.watcher.stop()
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Missed"))
        daemon.watcher.start(daemon.roots.current or "")
        assert daemon.metrics.reconcile_drift._value.get() == 0
        daemon.request_reconcile("signal")

        async def done() -> bool:
            return (await workflows(pg_url, s.db_schema)).get("alpha.one") == "Missed"

        await until(done, what="reconcile")
        await until(lambda: daemon.metrics.reconcile_drift._value.get() == 1, what="drift")
