"""Audit of FIELD-NOTES traps against a running daemon (real PostgreSQL, real
folders, real inotify): each test names the trap it proves packsync avoids."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from pathlib import Path

import asyncpg
import httpx

from packsync.config import Settings
from packsync.db import queries
from tests.support.daemon import (
    DaemonProcess,
    InProcess,
    daemon_env,
    fast_settings,
    until,
    until_label,
    workflows,
    write_unseen,
)
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


async def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _row_versions(url: str, schema: str) -> dict[str, str]:
    """table:key → xmin of every pack, workflow, action, state and error row
    (any write changes it). `schema`: Attune's; packsync's is `<schema>_state`."""
    got: dict[str, str] = {}
    state = f"{schema}_state"
    for table_schema, table, key in (
        (schema, "pack", "ref"),
        (schema, "workflow_definition", "ref"),
        (schema, "action", "ref"),
        (state, "managed_pack", "pack_ref"),
        (state, "managed_workflow", "ref"),
        (state, "workflow_sync_error", "file_path"),
    ):
        sql = f'SELECT {key} AS k, xmin::text AS x FROM "{table_schema}".{table}'
        for r in await _fetch(url, sql):
            got[f"{table}:{r['k']}"] = r["x"]
    return got


async def test_periodic_reconcile_catches_lost_events_and_counts_drift(
    settings: Settings, pg_url: str
) -> None:
    """watchdog #654: lost events give no signal; only the periodic reconcile
    (trigger `reconcile`, no SIGHUP) catches up, and the drift is counted."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings, reconcile_interval_seconds=1.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        write_unseen(daemon, base / "alpha" / "workflows" / "one.yaml", workflow_yaml("Lost event"))

        await until_label(pg_url, s.db_schema, "alpha.one", "Lost event")
        await until(lambda: daemon.metrics.reconcile_drift._value.get() == 1, what="drift")
    runs = await _fetch(
        pg_url,
        f'SELECT trigger FROM "{s.state_schema}".sync_run WHERE pack_ref IS NULL AND updated > 0',
    )
    assert [r["trigger"] for r in runs] == ["reconcile"]


async def test_inotify_queue_overflow_rescan_counts_drift(settings: Settings, pg_url: str) -> None:
    """IN_Q_OVERFLOW as watchdog 7.1 reports it (a warning from its thread):
    the rescan it triggers finds what was lost and counts it as drift, so the
    operator's alert on packsync_reconcile_drift_total fires for overflows."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        write_unseen(daemon, base / "alpha" / "workflows" / "one.yaml", workflow_yaml("Overflowed"))
        thread = threading.Thread(
            target=logging.getLogger("watchdog.observers.inotify_c").warning,
            args=("Inotify queue overflowed; filesystem events were lost",),
        )
        thread.start()
        thread.join()

        await until_label(pg_url, s.db_schema, "alpha.one", "Overflowed")
        await until(lambda: daemon.metrics.reconcile_drift._value.get() == 1, what="drift")


async def test_reconcile_of_an_unchanged_tree_writes_nothing(
    settings: Settings, pg_url: str
) -> None:
    """Airflow #38515 (re-parsing unchanged files): repeated reconciles leave
    every row's xmin untouched, invalid files included."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One"), "bad.yaml": "version: 1\n"})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        before = await _row_versions(pg_url, s.db_schema)
        assert "workflow_definition:alpha.one" in before
        assert {"action:alpha.one", "managed_workflow:alpha.one"} <= set(before)
        assert "workflow_sync_error:workflows/bad.yaml" in before
        for _ in range(3):
            done = daemon.state.last_full_sync
            daemon.request_reconcile("signal")
            await until(lambda d=done: daemon.state.last_full_sync != d, what="reconcile")
        assert await _row_versions(pg_url, s.db_schema) == before


async def test_editor_atomic_save_updates_the_row(settings: Settings, pg_url: str) -> None:
    """vim/rsync: write `.one.yaml.swp`, then moved(src=.one.yaml.swp, dest=one.yaml).
    The row follows; the temp file is never loaded."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        folder = base / "alpha" / "workflows"
        for label in ("Saved once", "Saved twice"):
            tmp = folder / ".one.yaml.swp"
            tmp.write_text(workflow_yaml(label))
            os.rename(tmp, folder / "one.yaml")

            async def saved(label: str = label) -> bool:
                return (await workflows(pg_url, s.db_schema)) == {"alpha.one": label}

            await until(saved, what=f"atomic save {label}")


async def test_emptied_base_dir_seen_pack_by_pack_deletes_nothing(
    settings: Settings, pg_url: str
) -> None:
    """Grafana: the root exists but is empty → it deleted everything. Here the
    watcher sees every folder vanish, one by one; the guard refuses each."""
    base = settings.packs_base_dir
    for ref in ("alpha", "beta", "gamma"):
        make_pack(base, ref, {"a.yaml": workflow_yaml(ref)})
    s = fast_settings(settings, mass_delete_grace_seconds=3600.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        for ref in ("alpha", "beta", "gamma"):
            shutil.rmtree(base / ref)
        await until(
            lambda: (
                daemon.metrics.sync_runs.labels(trigger="watch", outcome="refused")._value.get()
                >= 2
            ),
            what="refusals",
        )
        await until(lambda: daemon.scheduler.idle(), what="idle")
        assert set(await workflows(pg_url, s.db_schema)) == {"alpha.a", "beta.a", "gamma.a"}


async def test_base_dir_replaced_by_a_file(settings: Settings, pg_url: str) -> None:
    """The base dir becomes a regular file (a botched deploy): nothing is
    deleted, the daemon stays alive, and it converges when the folder returns."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings, mass_delete_grace_seconds=0.0)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        shutil.rmtree(base)
        base.write_text("not a folder\n")
        await asyncio.sleep(0.5)  # let the watcher and the tracker see it
        daemon.request_reconcile("signal")
        done = daemon.state.last_full_sync
        await until(lambda: daemon.state.last_full_sync != done, what="sweep on a file")
        assert set(await workflows(pg_url, s.db_schema)) == {"alpha.one"}
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"http://127.0.0.1:{daemon.state.http_port}/healthz")
        assert r.status_code == 200 and daemon.state.tasks_alive()

        base.unlink()
        make_core_pack(base)
        make_pack(base, "alpha", {"one.yaml": workflow_yaml("Back")})

        async def back() -> bool:
            return (await workflows(pg_url, s.db_schema)) == {"alpha.one": "Back"}

        await until(back, what="converged after the folder returned")


async def test_leader_lock_lives_on_a_dedicated_connection(settings: Settings, pg_url: str) -> None:
    """asyncpg pools run pg_advisory_unlock_all() on release: the leader lock
    must be held by a connection that is not in the pool, and survive pool churn."""
    make_pack(settings.packs_base_dir, "alpha", {"one.yaml": workflow_yaml()})
    s = fast_settings(settings)
    sql = (
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        lock_pid = daemon.elector._conn.get_server_pid()
        pool = daemon.syncer.pool
        assert pool is not None
        pool_pids = set()
        for _ in range(5):  # acquire/release every pool connection: each release resets
            conns = [await pool.acquire() for _ in range(pool.get_max_size())]
            pool_pids |= {c.get_server_pid() for c in conns}
            for c in conns:
                await pool.release(c)
        assert lock_pid not in pool_pids
        holders = [r["pid"] for r in await _fetch(pg_url, sql)]
        assert holders == [lock_pid]
        assert daemon.state.role == "leader"


async def test_backend_killed_mid_pack_transaction_is_retried(
    settings: Settings, pg_url: str
) -> None:
    """pg_terminate_backend on the session that is inside a pack's transaction
    (caught while it waits for the pack lock): the whole per-pack transaction
    is retried and the end state is right."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One"), "two.yaml": workflow_yaml("Two")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        lock_pid = daemon.elector._conn.get_server_pid()
        admin = await asyncpg.connect(pg_url)
        try:
            blocker = admin.transaction()
            await blocker.start()
            await admin.execute(queries.PACK_XACT_LOCK, s.db_schema, "alpha")
            (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("New one"))
            (base / "alpha" / "workflows" / "two.yaml").write_text(workflow_yaml("New two"))
            (base / "alpha" / "workflows" / "three.yaml").write_text(workflow_yaml("Three"))

            waiting: list[int] = []

            async def sync_is_waiting() -> bool:
                rows = await admin.fetch(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND pid <> $1",
                    lock_pid,
                )
                waiting[:] = [r["pid"] for r in rows]
                return bool(waiting)

            await until(sync_is_waiting, what="the daemon's sync inside its transaction")
            in_tx = await admin.fetchval(
                "SELECT state FROM pg_stat_activity WHERE pid = $1", waiting[0]
            )
            assert in_tx == "active"
            killed = await admin.fetchval("SELECT pg_terminate_backend($1)", waiting[0])
            assert killed
            await blocker.rollback()
        finally:
            await admin.close()

        async def converged() -> bool:
            return (await workflows(pg_url, s.db_schema)) == {
                "alpha.one": "New one",
                "alpha.two": "New two",
                "alpha.three": "Three",
            }

        await until(converged, 30, what="retried pack transaction")
        assert daemon.state.role == "leader" and daemon.state.tasks_alive()


async def test_daemon_never_logs_a_symlinked_etc_passwd(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """A workflow file linked to /etc/passwd, created while the daemon runs:
    refused, and its content never reaches the logs or the database."""
    marker = Path("/etc/passwd").read_text().splitlines()[0]
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"ok.yaml": workflow_yaml("Ok")})
    proc = DaemonProcess(daemon_env(settings, ATTUNE__LOG_LEVEL="debug"), tmp_path)
    try:
        await until(lambda: proc.events("first full sync done"), 60, what="first sync")
        os.symlink("/etc/passwd", base / "alpha" / "workflows" / "leak.yaml")

        async def reported() -> bool:
            rows = await _fetch(
                pg_url, f'SELECT errors::text FROM "{settings.state_schema}".workflow_sync_error'
            )
            return any("symlink-escape" in r[0] for r in rows)

        await until(reported, 30, what="symlink refused")
        dump = await _fetch(
            pg_url,
            f'SELECT row_to_json(t)::text FROM "{settings.db_schema}".workflow_definition t',
        )
        assert marker not in "".join(r[0] for r in dump)
    finally:
        assert proc.stop() == 0
    assert marker not in "".join(proc.raw)
    assert set(await workflows(pg_url, settings.db_schema)) == {"alpha.ok"}


async def test_leader_steps_down_when_its_lock_session_is_killed(
    settings: Settings, pg_url: str
) -> None:
    """The lock connection terminated server-side: the termination listener
    steps the daemon down at once, it re-acquires on a new session and keeps
    syncing (never two writers, never a silent loss of the lock)."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        old_pid = daemon.elector._conn.get_server_pid()
        roles: list[str] = []
        admin = await asyncpg.connect(pg_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", old_pid)
        finally:
            await admin.close()

        def relocked() -> bool:
            roles.append(daemon.state.role)
            conn = daemon.elector._conn
            return (
                conn is not None and conn.get_server_pid() != old_pid and daemon.elector.is_leader
            )

        await until(relocked, what="leader again on a new session")
        assert "standby" in roles or daemon.elector.failures >= 1
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("After"))

        await until_label(pg_url, s.db_schema, "alpha.one", "After")


async def test_sigint_stops_the_daemon_cleanly(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    """SPEC §7: SIGINT (Ctrl-C in a terminal) is a clean stop like SIGTERM: exit 0,
    the leader lock released, no traceback."""
    import signal

    make_pack(settings.packs_base_dir, "alpha", {"one.yaml": workflow_yaml("One")})
    proc = DaemonProcess(daemon_env(settings), tmp_path)
    try:
        await until(lambda: proc.events("first full sync done"), 60, what="first sync")
        proc.proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(proc.proc.wait, 30)
    finally:
        proc.kill()
    assert code == 0, "".join(proc.raw[-20:])
    assert proc.events("packsync daemon stopped")
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in proc.raw)
    locks = await _fetch(pg_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    assert locks[0][0] == 0


async def test_base_dir_deleted_and_recreated_at_once_is_watched_again(
    settings: Settings, pg_url: str
) -> None:
    """`rm -rf packs && git clone … packs` (or a volume re-mounted): the same
    path, a new folder. The watch on the old inode is gone; the daemon must
    watch the new folder and pick up later edits without waiting for a reconcile."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        staged = base.parent / "staged"
        make_core_pack(staged)
        make_pack(staged, "alpha", {"one.yaml": workflow_yaml("Recreated")})
        shutil.rmtree(base)
        os.rename(staged, base)  # within microseconds: no tick sees the gap

        await until_label(pg_url, s.db_schema, "alpha.one", "Recreated", 15)
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Edited later"))

        await until_label(pg_url, s.db_schema, "alpha.one", "Edited later", 15)
        assert daemon.state.tasks_alive() and daemon.watcher is not None
        assert daemon.watcher.is_alive()


async def test_daemon_started_without_its_base_dir_waits_and_deletes_nothing(
    settings: Settings, pg_url: str
) -> None:
    """The volume is not mounted yet when the daemon starts (a sidecar racing
    git-sync's first clone): nothing registered is deleted, and the packs are
    synced once the folder appears."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
    shutil.rmtree(base)
    async with InProcess(s) as daemon:
        await asyncio.sleep(1.0)
        assert set(await workflows(pg_url, s.db_schema)) == {"alpha.one"}
        assert daemon.state.tasks_alive()
        staged = base.parent / "staged"
        make_core_pack(staged)
        make_pack(staged, "alpha", {"one.yaml": workflow_yaml("Mounted")})
        make_pack(staged, "beta", {"b.yaml": workflow_yaml("B")})
        os.rename(staged, base)

        async def mounted() -> bool:
            return (await workflows(pg_url, s.db_schema)) == {
                "alpha.one": "Mounted",
                "beta.b": "B",
            }

        await until(mounted, 15, what="synced once the folder appeared")
        (base / "beta" / "workflows" / "b.yaml").write_text(workflow_yaml("B2"))

        await until_label(pg_url, s.db_schema, "beta.b", "B2", 15)


async def test_pack_folder_replaced_at_once_is_still_watched(
    settings: Settings, pg_url: str
) -> None:
    """`rm -rf packs/alpha && mv staged packs/alpha` (rsync --delay-updates,
    deploy tools): the new pack folder's files are watched too."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})
    s = fast_settings(settings)
    async with InProcess(s) as daemon:
        await until(lambda: daemon.state.first_sync_done, what="first full sync")
        staged = base.parent / "staged-alpha"
        make_pack(staged.parent, "staged-alpha", {"one.yaml": workflow_yaml("Replaced")})
        (staged / "pack.yaml").write_text("ref: alpha\nlabel: Alpha\nversion: 1.0.0\n")
        shutil.rmtree(base / "alpha")
        os.rename(staged, base / "alpha")

        await until_label(pg_url, s.db_schema, "alpha.one", "Replaced", 15)
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Edited"))

        await until_label(pg_url, s.db_schema, "alpha.one", "Edited", 15)


async def test_a_pack_lock_held_elsewhere_blocks_only_that_pack(
    settings: Settings, pg_url: str
) -> None:
    """Another process (a `packsync sync` suspended with Ctrl-Z mid-transaction,
    an operator's psql) holds one pack's transaction lock: that pack waits at
    most pack_lock_timeout_seconds per attempt and is retried until the lock
    is gone; every other pack keeps syncing, even across a full reconcile
    (which used to wait behind the blocked pack forever)."""
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    make_pack(base, "beta", {"b.yaml": workflow_yaml("B")})
    s = fast_settings(settings, pack_lock_timeout_seconds=0.5)
    admin = await asyncpg.connect(pg_url)
    try:
        async with InProcess(s) as daemon:
            await until(lambda: daemon.state.first_sync_done, what="first full sync")
            blocker = admin.transaction()
            await blocker.start()
            await admin.execute(queries.PACK_XACT_LOCK, s.db_schema, "alpha")
            (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Blocked"))
            await until(lambda: "alpha" in daemon.scheduler.running(), what="alpha waiting")
            daemon.request_reconcile("signal")  # a sweep must not wait behind alpha
            for n in range(3):
                (base / "beta" / "workflows" / "b.yaml").write_text(workflow_yaml(f"B{n}"))

                async def beta(n: int = n) -> bool:
                    return (await workflows(pg_url, s.db_schema)).get("beta.b") == f"B{n}"

                await until(beta, 15, what=f"beta synced while alpha waits ({n})")
            await asyncio.sleep(8)  # several busy retries: never given up on
            assert (await workflows(pg_url, s.db_schema))["alpha.one"] == "One"
            await blocker.rollback()

            await until_label(pg_url, s.db_schema, "alpha.one", "Blocked", 15)
            assert daemon.state.db_up and daemon.state.role == "leader"
    finally:
        await admin.close()
