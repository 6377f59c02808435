"""Helpers of the fault suite: a daemon process that is ready, probes sampled
continuously, and the figures each case reports (docs/reliability.md).

Figures go to the JSON-lines file named by PACKSYNC_RELIABILITY_REPORT when
it is set (that is how the doc's table is refreshed), and to the test log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from packsync.config import Settings
from tests.support.daemon import DaemonProcess, daemon_env, until

REPORT_ENV = "PACKSYNC_RELIABILITY_REPORT"


def record(case: str, **figures: Any) -> None:
    """One line of figures for docs/reliability.md."""
    line = json.dumps({"case": case, **figures}, sort_keys=True)
    print(f"reliability: {line}")
    path = os.environ.get(REPORT_ENV)
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class HealthSampler:
    """GET /healthz as often as it answers; every status that was not 200 is kept."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.samples = 0
        self.failures: list[tuple[float, int | str]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                try:
                    status: int | str = (await client.get(self.url)).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.samples += 1
                if status != 200:
                    self.failures.append((time.monotonic(), status))
                await asyncio.sleep(0.005)

    async def __aenter__(self) -> HealthSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def get_json(port: int, path: str) -> Any:
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(f"http://127.0.0.1:{port}{path}")).json()


async def role(port: int | None) -> str | None:
    if port is None:
        return None
    try:
        return str((await get_json(port, "/status"))["role"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


async def start_daemon(
    settings: Settings, cwd: Path, timeout: float = 90.0, **env: str
) -> DaemonProcess:
    """`packsync run` as a process, returned once its first full sync is done."""
    proc = DaemonProcess(daemon_env(settings, **env), cwd)
    try:
        await until(
            lambda: bool(proc.events("first full sync done")) or proc.proc.poll() is not None,
            timeout,
            what="first full sync",
        )
        assert proc.proc.poll() is None, "".join(proc.raw[-20:])
    except BaseException:
        proc.kill()
        raise
    return proc


def since(proc: DaemonProcess, event: str, start: int) -> list[dict[str, Any]]:
    """Events named `event` among the log lines from index `start` on."""
    return [e for e in list(proc.lines)[start:] if e.get("event") == event]
