"""uvicorn served as a task on the daemon's loop, without its signal handlers
(the daemon owns SIGTERM/SIGINT/SIGHUP and stops the server itself)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
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


class PortInUse(OSError):
    """The HTTP address is taken: a configuration problem (exit 2), not a crash."""


def bind(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn, which logs and sys.exit()s on failure."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                exc.errno,
                f"HTTP port {port} on {host} is already in use: choose another with --port",
            ) from None
        raise
    sock.setblocking(False)
    return sock


class HttpServer:
    def __init__(self, app: Any, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # logs go through the daemon's logging setup
            log_level="warning",  # the daemon logs "http listening" itself
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def start(self, wait: float = 10.0) -> int:
        """Serve in the background; returns the bound port (port 0 → ephemeral)."""
        cfg = self._server.config
        sock = bind(cfg.host, cfg.port)
        self._task = asyncio.create_task(self._serve(sock), name="http")
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

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        except SystemExit:  # uvicorn sys.exit()s when it cannot bind
            cfg = self._server.config
            raise OSError(f"HTTP server cannot listen on {cfg.host}:{cfg.port}") from None

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
