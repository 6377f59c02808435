"""SIGTERM while a pack sync hangs on a silent connection: `packsync run`
exits 0 well inside Kubernetes' default 30 s grace period (its rollback
cannot reach the server, so the connection is aborted instead)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from packsync.config import Settings
from tests.reliability.faults_support import PackLockHolder
from tests.reliability.silent_proxy import SilentProxy
from tests.support.daemon import DaemonProcess, daemon_env, until, until_label
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

EXIT_WITHIN = 10.0


async def test_sigterm_while_a_sync_hangs_on_a_silent_connection(
    settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    base = settings.packs_base_dir
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    async with SilentProxy(pg_url) as proxy:
        env = daemon_env(settings, ATTUNE__DATABASE_URL=proxy.url)
        proc = DaemonProcess(env, tmp_path)
        try:
            await until(lambda: proc.events("first full sync done"), 60, what="first sync")
            await until_label(pg_url, settings.db_schema, "alpha.one", "One")
            async with PackLockHolder(pg_url, settings.db_schema, "alpha") as lock:
                (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Two"))
                await lock.until_daemon_waits()
                assert proxy.silence() >= 2
            # the daemon's sync now waits, forever, for an answer that never comes
            started = time.monotonic()
            proc.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.proc.wait, 30)
            took = time.monotonic() - started
        finally:
            proc.kill()
    print(f"SIGTERM on a silent connection: exited {code} after {took:.1f} s")
    assert code == 0, "".join(proc.raw[-20:])
    assert took <= EXIT_WITHIN, took
    assert proc.events("packsync daemon stopped")
    assert not any("Traceback" in line for line in proc.raw), "".join(proc.raw)[-3000:]
