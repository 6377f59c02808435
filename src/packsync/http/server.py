"""uvicorn served as a task on the daemon's loop, without its signal handlers
(the daemon owns SIGTERM/SIGINT/SIGHUP and stops the server itself)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any

import structlog
import uvicorn

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None


class HttpServer:
    def __init__(self, app: Any, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # logs go through the daemon's logging setup
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def start(self, wait: float = 10.0) -> int:
        """Serve in the background; returns the bound port (port 0 → ephemeral)."""
        self._task = asyncio.create_task(self._server.serve(), name="http")
        deadline = asyncio.get_running_loop().time() + wait
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
                raise OSError("HTTP server exited during start-up")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("HTTP server did not start")
            await asyncio.sleep(0.01)
        for server in self._server.servers:
            for sock in server.sockets:
                self.port = int(sock.getsockname()[1])
                break
        return self.port or 0

    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, grace: float = 5.0) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, grace)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
        except Exception as exc:  # a serve() error must not break shutdown
            log.warning("HTTP server stopped with an error", error=str(exc))
