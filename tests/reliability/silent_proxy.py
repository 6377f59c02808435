"""A loopback TCP proxy in front of PostgreSQL whose open connections can be
made silent: nothing is forwarded either way and nothing is closed, as after
a network partition or a dead NAT entry, while connections opened afterwards
are forwarded normally. The server keeps the silenced sessions (and their
locks) alive; the client sees an open socket that never answers."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@dataclass(slots=True)
class _Pipe:
    silent: asyncio.Event = field(default_factory=asyncio.Event)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _upstream(url: str) -> tuple[str | None, str, int]:
    """(unix socket path or None, host, port) of a PostgreSQL URL."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "localhost"
    port = int(query.get("port") or parts.port or 5432)
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}", host, port
    return None, host, port


class SilentProxy:
    def __init__(self, url: str) -> None:
        self.upstream_url = url
        self._socket, self._host, self._port = _upstream(url)
        self._server: asyncio.Server | None = None
        self._pipes: list[_Pipe] = []
        self.port = 0

    @property
    def url(self) -> str:
        """The upstream URL with host and port pointing at the proxy."""
        parts = urlsplit(self.upstream_url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")]
        user = parts.username or "postgres"
        auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
        netloc = f"{auth}127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))

    async def start(self) -> SilentProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def silence(self) -> int:
        """Every connection open now goes silent; returns how many."""
        live = [p for p in self._pipes if not p.silent.is_set()]
        for pipe in live:
            pipe.silent.set()
        return len(live)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in self._pipes:
            for task in pipe.tasks:
                task.cancel()
            for writer in pipe.writers:
                writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def __aenter__(self) -> SilentProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._socket is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self._socket)
            else:
                up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            writer.close()
            return
        pipe = _Pipe(writers=[writer, up_writer])
        self._pipes.append(pipe)
        pipe.tasks = [
            asyncio.create_task(self._pump(pipe, reader, up_writer)),
            asyncio.create_task(self._pump(pipe, up_reader, writer)),
        ]

    @staticmethod
    async def _pump(pipe: _Pipe, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await src.read(65536)
                if pipe.silent.is_set():
                    await asyncio.Event().wait()  # hold everything, close nothing
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        if not pipe.silent.is_set():
            for w in pipe.writers:
                w.close()
