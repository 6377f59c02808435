"""Helpers for the daemon's integration tests: run a daemon in-process or as a
process, and poll the database until a condition holds (never sleep-and-assert)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from packsync.config import Settings
from packsync.serve import Daemon

FAST = {
    "debounce_seconds": 0.1,
    "debounce_max_wait_seconds": 1.0,
    "reconcile_interval_seconds": 3600.0,
    "polling_interval_seconds": 0.2,
}


def fast_settings(settings: Settings, **extra: Any) -> Settings:
    http = settings.http.model_copy(update={"port": 0})
    return settings.model_copy(update={**FAST, "http": http, **extra})


async def until(
    cond: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 20.0, what: str = ""
) -> None:
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.05)


async def workflows(url: str, schema: str) -> dict[str, str | None]:
    """ref → label of every registered workflow ({} when the schema is not there yet)."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(f'SELECT ref, label FROM "{schema}".workflow_definition')
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    return {r["ref"]: r["label"] for r in rows}


def write_unseen(daemon: Daemon, path: Path, text: str) -> None:
    """Write a file while the watcher is stopped: the event is lost, as after an
    inotify queue overflow; only a reconcile can find the change."""
    assert daemon.watcher is not None
    daemon.watcher.stop()
    path.write_text(text)
    daemon.watcher.start(daemon.roots.current or "")


async def until_label(url: str, schema: str, ref: str, label: str, timeout: float = 20.0) -> None:
    """Wait until workflow `ref` is registered with `label`."""

    async def registered() -> bool:
        return (await workflows(url, schema)).get(ref) == label

    await until(registered, timeout, what=f"{ref} registered as {label!r}")


async def safe_workflows(url: str, schema: str) -> dict[str, str | None] | None:
    try:
        return await workflows(url, schema)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None


class InProcess:
    """A Daemon running as a task on the test's loop."""

    def __init__(self, settings: Settings) -> None:
        self.daemon = Daemon(settings)
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Daemon:
        self.task = asyncio.create_task(self.daemon.run())
        await until(lambda: self.daemon.state.http_port is not None or self.task.done(), 20)
        return self.daemon

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.daemon.request_stop()
        assert await asyncio.wait_for(self.task, 30) == 0


class DaemonProcess:
    """`python -m packsync run` as a real process; JSON log lines collected."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        full = {**os.environ, **env, "ATTUNE__LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "packsync", "run"],
            env=full,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(line))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in list(self.lines) if e.get("event") == name]

    @property
    def port(self) -> int | None:
        found = self.events("http listening")
        return int(found[0]["port"]) if found else None

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def daemon_env(settings: Settings, **extra: str) -> dict[str, str]:
    assert settings.database_url is not None
    env = {
        "ATTUNE__PACKS_BASE_DIR": str(settings.packs_base_dir),
        "ATTUNE__DATABASE_URL": settings.database_url.get_secret_value(),
        "ATTUNE__DB_SCHEMA": settings.db_schema,
        "ATTUNE__STATE_SCHEMA": settings.state_schema,
        "ATTUNE__STATE_DIR": str(settings.state_dir),
        "ATTUNE__HTTP__PORT": "0",
        "ATTUNE__DEBOUNCE_SECONDS": "0.1",
        "ATTUNE__DEBOUNCE_MAX_WAIT_SECONDS": "1",
    }
    env.update(extra)
    return env


class RowSampler:
    """Counts workflow rows on its own connection, as often as it can, while a
    sweep runs: the lowest count seen is what a reader could have seen."""

    def __init__(self, url: str, schema: str) -> None:
        self.url, self.schema = url, schema
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while True:
                n = await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".workflow_definition')
                self.samples.append(int(n))
                await asyncio.sleep(0.001)
        finally:
            await conn.close()

    async def __aenter__(self) -> RowSampler:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class OwnServer:
    def __init__(self, pgdata: Path) -> None:
        import pgserver

        self.pgdata = pgdata
        self.server = pgserver.get_server(pgdata, cleanup_mode="delete")
        self.url = str(self.server.get_uri())

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
