"""`python -m packsync run` as real processes: SIGTERM during the first sync,
and leader election between two daemons of one sync group (SIGKILL takeover)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from packsync.config import Settings
from tests.support.daemon import DaemonProcess, daemon_env, until, workflows
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


async def _pack_counts(url: str, schema: str, table: str = "workflow_definition") -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            f'SELECT pack_ref, count(*) AS n FROM "{schema}".{table} GROUP BY pack_ref'
        )
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    return {r["pack_ref"]: r["n"] for r in rows}


@pytest.mark.both_schemas
async def test_sigterm_during_first_sync_exits_0_without_half_packs(
    settings: Settings, tmp_path: Path, check_db: Any
) -> None:
    assert settings.database_url is not None
    pg_url = settings.database_url.get_secret_value()
    base = settings.packs_base_dir
    make_core_pack(base)
    per_pack = 12
    for i in range(80):
        make_pack(
            base, f"p{i:02d}", {f"w{j}.yaml": workflow_yaml(f"w{j}") for j in range(per_pack)}
        )
    proc = DaemonProcess(daemon_env(settings), tmp_path)
    try:
        await until(lambda: _started(pg_url, settings.db_schema), 60, what="first sync under way")
        proc.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.proc.wait, 30)
    finally:
        proc.kill()
    assert code == 0, "".join(proc.raw[-20:])
    counts = await _pack_counts(pg_url, settings.db_schema)
    assert 0 < len(counts) < 80, "the sync should have been interrupted part-way"
    assert all(n == per_pack for n in counts.values()), counts  # no half-registered pack
    # each workflow with its companion action, committed together
    assert await _pack_counts(pg_url, settings.db_schema, "action") == counts
    check_db()
    assert not any("Traceback" in line for line in proc.raw), "".join(proc.raw)[-3000:]
    assert proc.events("packsync daemon stopped")
    assert not any("s3cr3t-pw" in line for line in proc.raw)  # secrets never reach logs


async def _started(url: str, schema: str) -> bool:
    return len(await _pack_counts(url, schema)) > 0


async def _role(port: int) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return str((await client.get(f"http://127.0.0.1:{port}/status")).json()["role"])
    except httpx.HTTPError:
        return None


async def test_two_daemons_one_leader_and_takeover_after_sigkill(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    env = daemon_env(settings)
    a = DaemonProcess(env, tmp_path)
    b = DaemonProcess(env, tmp_path)
    try:
        await until(lambda: a.port is not None and b.port is not None, 60, what="both up")
        assert a.port is not None and b.port is not None
        ports = {"a": a.port, "b": b.port}

        async def roles() -> dict[str, str | None]:
            return {name: await _role(port) for name, port in ports.items()}

        async def one_leader() -> bool:
            r = await roles()
            return sorted(r.values(), key=str) == ["leader", "standby"]

        await until(one_leader, 60, what="one leader, one standby")
        await asyncio.sleep(2)  # several standby polls later: still exactly one leader
        assert await one_leader()
        r = await roles()
        leader, standby = (a, b) if r["a"] == "leader" else (b, a)
        standby_port = ports["b"] if leader is a else ports["a"]

        async def synced(label: str) -> bool:
            return (await workflows(pg_url, settings.db_schema)).get("alpha.one") == label

        await until(lambda: synced("One"), 30, what="first sync")
        leader.proc.send_signal(signal.SIGHUP)  # SIGHUP: full reconcile
        await until(
            lambda: any(e.get("trigger") == "signal" for e in leader.events("full sync done")),
            30,
            what="SIGHUP reconcile",
        )
        leader.kill()  # SIGKILL: no clean release, PostgreSQL drops the session lock
        await until(lambda: _is(standby_port, "leader"), 30, what="standby takes over")
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("After takeover"))
        await until(lambda: synced("After takeover"), 30, what="new leader syncs")
        assert standby.stop() == 0
    finally:
        a.kill()
        b.kill()


async def _is(port: int, role: str) -> bool:
    return await _role(port) == role


async def test_systemd_notify_ready_watchdog_stopping(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    import socket

    make_core_pack(settings.packs_base_dir)
    make_pack(settings.packs_base_dir, "alpha", {"one.yaml": workflow_yaml("One")})
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    messages: list[str] = []

    def drain() -> None:
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                return

    env = daemon_env(settings, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
    proc = DaemonProcess(env, tmp_path)
    try:

        async def seen(prefix: str) -> bool:
            await asyncio.to_thread(drain)
            return any(m.startswith(prefix) for m in messages)

        await until(lambda: seen("READY=1"), 60, what="READY=1")
        ready = next(m for m in messages if m.startswith("READY=1"))
        assert "STATUS=leader" in ready
        assert (await workflows(pg_url, settings.db_schema)) == {"alpha.one": "One"}
        await until(lambda: seen("WATCHDOG=1"), 30, what="WATCHDOG=1")
        assert proc.stop() == 0
        await until(lambda: seen("STOPPING=1"), 10, what="STOPPING=1")
    finally:
        proc.kill()
        sock.close()
