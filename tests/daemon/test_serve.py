"""The daemon in-process with real inotify and a real PostgreSQL: every kind of
change on disk reaches the database, storms sync each pack about once."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from packsync.config import Settings
from packsync.daemon.watch import WATCH_LIMIT_ENV
from tests.support.daemon import (
    InProcess,
    fast_settings,
    until,
    until_label,
    workflows,
    write_unseen,
)
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


@pytest.mark.both_schemas
async def test_changes_on_disk_reach_the_database(settings: Settings, check_db: Any) -> None:
    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})
    s = fast_settings(settings)
    schema = s.db_schema

    async def labels() -> dict[str, str | None]:
        return await workflows(url, schema)

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
    check_db()  # what the daemon left is what Attune's registrar would have written


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
        write_unseen(daemon, base / "alpha" / "workflows" / "one.yaml", workflow_yaml("Missed"))
        assert daemon.metrics.reconcile_drift._value.get() == 0
        daemon.request_reconcile("signal")

        await until_label(pg_url, s.db_schema, "alpha.one", "Missed")
        await until(lambda: daemon.metrics.reconcile_drift._value.get() == 1, what="drift")


async def test_two_sync_groups_lead_side_by_side(settings: Settings, pg_url: str) -> None:
    """Different sync groups on one database each have their own leader and
    never touch each other's packs."""
    base_a = settings.packs_base_dir / "host-a"
    base_b = settings.packs_base_dir / "host-b"
    make_pack(base_a, "alpha", {"one.yaml": workflow_yaml("A")})
    make_pack(base_b, "beta", {"two.yaml": workflow_yaml("B")})
    sa = fast_settings(settings, packs_base_dir=base_a, sync_group="ga")
    sb = fast_settings(settings, packs_base_dir=base_b, sync_group="gb")
    async with InProcess(sa) as a, InProcess(sb) as b:
        await until(lambda: a.state.first_sync_done and b.state.first_sync_done, what="both")
        assert a.state.role == "leader" and b.state.role == "leader"
        assert await workflows(pg_url, sa.db_schema) == {"alpha.one": "A", "beta.two": "B"}
        (base_a / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("A2"))

        async def done() -> bool:
            return await workflows(pg_url, sa.db_schema) == {"alpha.one": "A2", "beta.two": "B"}

        await until(done, what="group a synced, group b untouched")
        b.request_reconcile("signal")  # b's sweep must not delete a's pack
        await until(lambda: b.scheduler.idle() and b.state.packs["beta"].syncs >= 2)
        assert await workflows(pg_url, sa.db_schema) == {"alpha.one": "A2", "beta.two": "B"}


async def test_switches_to_polling_when_new_folders_exceed_the_watch_budget(
    settings: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    monkeypatch.setenv(WATCH_LIMIT_ENV, "40")  # room for the start, not for 30 more packs
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        assert daemon.state.watcher_mode == "inotify"
        for i in range(30):
            make_pack(base, f"n{i:02d}", {"w.yaml": workflow_yaml(f"N{i}")})
        daemon.request_reconcile("signal")
        await until(lambda: daemon.state.watcher_mode == "polling", what="fallback to polling")
        assert daemon.metrics.watcher_polling._value.get() == 1
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Polled"))

        async def done() -> bool:
            rows = await workflows(pg_url, s.db_schema)
            return rows.get("alpha.one") == "Polled" and rows.get("n29.w") == "N29"

        await until(done, what="synced while polling")


async def test_watcher_inotify_refuses_to_start_instead_of_polling(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from packsync.serve import Daemon

    make_pack(settings.packs_base_dir, "alpha", {"one.yaml": workflow_yaml("One")})
    monkeypatch.setenv(WATCH_LIMIT_ENV, "1")
    daemon = Daemon(fast_settings(settings, watcher="inotify"))
    assert await asyncio.wait_for(daemon.run(), 30) == 1
    assert daemon.state.stopping
