"""Replicas of one sync group (real `packsync run` processes on one real
PostgreSQL): the leader is killed (SIGKILL) or frozen (SIGSTOP) — frozen in
the middle of a pack transaction, the hardest moment. A standby takes over
within the lease; the frozen leader, resumed, never commits a write (an audit
trigger records the backend of every committed row change)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from packsync.config import Settings
from packsync.db import queries
from tests.reliability.support import record
from tests.support.daemon import DaemonProcess, daemon_env, until, workflows
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

LEASE = 3.0
ENV = {
    "ATTUNE__LEADER_LEASE_SECONDS": str(LEASE),
    "ATTUNE__PACK_LOCK_TIMEOUT_SECONDS": "3",
}


async def _role(client: httpx.AsyncClient, port: int | None) -> str | None:
    if port is None:
        return None
    try:
        r = await client.get(f"http://127.0.0.1:{port}/status", timeout=0.5)
        return str(r.json()["role"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None  # frozen, dead or starting


class Roles:
    """Samples every replica's role ~20 times a second; keeps the most
    leaders ever seen at once among those that answered."""

    def __init__(self, procs: list[DaemonProcess]) -> None:
        self.procs = procs
        self.samples = 0
        self.max_leaders = 0
        self.current: list[str | None] = [None] * len(procs)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                got = await asyncio.gather(*(_role(client, p.port) for p in self.procs))
                self.current = list(got)
                self.samples += 1
                self.max_leaders = max(self.max_leaders, got.count("leader"))
                await asyncio.sleep(0.05)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def leader(self, exclude: DaemonProcess | None = None) -> DaemonProcess | None:
        found = [
            p
            for p, r in zip(self.procs, self.current, strict=True)
            if r == "leader" and p is not exclude
        ]
        return found[0] if len(found) == 1 else None


async def _replicas(settings: Settings, cwd: Path, n: int) -> tuple[list[DaemonProcess], Roles]:
    env = daemon_env(settings, **ENV)
    procs = [DaemonProcess(env, cwd) for _ in range(n)]
    roles = Roles(procs)
    roles.start()
    await until(
        lambda: roles.leader() is not None and None not in roles.current, 90, what="a leader"
    )
    return procs, roles


async def _audit(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"""
            CREATE TABLE "{schema}".write_audit (pid int, op text, ref text);
            CREATE FUNCTION "{schema}".audit_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO "{schema}".write_audit VALUES
                (pg_backend_pid(), TG_OP, coalesce(NEW.ref, OLD.ref));
              RETURN NULL;
            END $$;
            CREATE TRIGGER write_audit AFTER INSERT OR UPDATE OR DELETE
              ON "{schema}".workflow_definition
              FOR EACH ROW EXECUTE FUNCTION "{schema}".audit_write();
            """
        )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "replicas", [2, pytest.param(3, marks=pytest.mark.reliability_slow)], ids=["2", "3"]
)
async def test_sigkill_of_the_leader_fails_over(
    settings: Settings, pg_url: str, tmp_path: Path, replicas: int
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    procs, roles = await _replicas(settings, tmp_path, 2)
    try:
        await until(lambda: _label(pg_url, settings.db_schema, "One"), 60, what="first sync")
        old = roles.leader()
        assert old is not None
        killed = time.monotonic()
        old.kill()
        await until(lambda: roles.leader(exclude=old) is not None, 30, what="failover")
        failover = time.monotonic() - killed
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("After"))
        edited = time.monotonic()
        await until(
            lambda: _label(pg_url, settings.db_schema, "After"), 30, what="new leader syncs"
        )
        record(
            f"{replicas} replicas, SIGKILL of the leader",
            failover_s=round(failover, 2),
            edit_registered_s=round(time.monotonic() - edited, 2),
            max_leaders_seen=roles.max_leaders,
            role_samples=roles.samples,
        )
        assert roles.max_leaders == 1
    finally:
        await roles.stop()
        for p in procs:
            p.kill()


async def _label(url: str, schema: str, label: str) -> bool:
    return (await workflows(url, schema)).get("alpha.one") == label


@pytest.mark.parametrize(
    "replicas", [3, pytest.param(2, marks=pytest.mark.reliability_slow)], ids=["3", "2"]
)
async def test_leader_frozen_mid_transaction_loses_the_lease_and_never_commits(
    settings: Settings, pg_url: str, tmp_path: Path, replicas: int
) -> None:
    base = settings.packs_base_dir
    schema = settings.db_schema
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    procs, roles = await _replicas(settings, tmp_path, replicas)
    admin = await asyncpg.connect(pg_url)
    old: DaemonProcess | None = None
    try:
        await until(lambda: _label(pg_url, schema, "One"), 60, what="first sync")
        await _audit(pg_url, schema)
        old = roles.leader()
        assert old is not None
        # Hold alpha's pack lock, edit alpha: the leader's transaction waits inside.
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute(queries.PACK_XACT_LOCK, schema, "alpha")
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Frozen era"))

        async def waiter() -> int | None:
            pid = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = 'packsync' AND pid <> pg_backend_pid() LIMIT 1"
            )
            return None if pid is None else int(pid)

        await until(lambda: waiter(), 30, what="the leader waits inside alpha's transaction")
        frozen_pid = await waiter()
        old.proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        await blocker.rollback()  # the frozen leader's backend now holds alpha, idle in its tx

        await until(lambda: roles.leader(exclude=old) is not None, 30, what="a standby takes over")
        failover = time.monotonic() - frozen
        new = roles.leader(exclude=old)
        assert new is not None
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("New leader"))
        await asyncio.sleep(1.0)
        mark = len(old.lines)
        old.proc.send_signal(signal.SIGCONT)
        resumed = time.monotonic()

        async def old_standby() -> bool:
            return roles.current[procs.index(old)] == "standby"

        await until(old_standby, 30, what="the resumed leader stands by")
        await until(lambda: _label(pg_url, schema, "New leader"), 30, what="converged")
        converge = time.monotonic() - resumed
        writers = {
            r["pid"]: r["n"]
            for r in await admin.fetch(
                f'SELECT pid, count(*) AS n FROM "{schema}".write_audit GROUP BY pid'
            )
        }
        after_resume = [e for e in list(old.lines)[mark:] if e.get("event") == "pack synced"]
        record(
            f"{replicas} replicas, SIGSTOP of the leader mid-transaction, SIGCONT after takeover",
            lease_s=LEASE,
            failover_s=round(failover, 2),
            converge_after_resume_s=round(converge, 2),
            old_leader_commits=writers.get(frozen_pid, 0),
            old_leader_pack_synced_lines=len(after_resume),
            max_leaders_seen=roles.max_leaders,
            role_samples=roles.samples,
        )
        assert frozen_pid not in writers  # its transaction never committed
        assert writers, "the new leader's writes are audited"
        assert after_resume == []
        assert failover < LEASE + 5  # bounded by the lease, not by SIGCONT
        assert roles.max_leaders == 1
    finally:
        if old is not None and old.proc.poll() is None:
            old.proc.send_signal(signal.SIGCONT)
        await admin.close()
        await roles.stop()
        for p in procs:
            p.kill()
