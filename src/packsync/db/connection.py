"""asyncpg connections: one pool for the pipeline and the API, plus dedicated
connections (leader election holds a session advisory lock, which a pool would
silently drop: asyncpg resets sessions with `pg_advisory_unlock_all()` on release).

Every session gets `search_path` = the state schema, then Attune's, as a *startup*
parameter, so the pool's `RESET ALL` on release returns to it (a plain `SET` in
`init` would be undone). Queries are therefore written unqualified.

A connection can go silent without closing (a network partition, a dead NAT
entry): every statement is bounded by `db_command_timeout_seconds` (asyncpg
then cancels it and, when even the cancel goes unanswered, aborts the
connection), and TCP keepalives on both ends (`db_keepalive_seconds`) let the
kernels notice a dead peer. The server keeps an abandoned session alive
(and its locks held) until it notices; `reap_abandoned` ends such sessions of
ours from a fresh connection, so a pack lock or the leader lock is freed in
seconds rather than after the server's keepalive (see db/backends.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from packsync.config import Settings
from packsync.core.secrets import mask_url
from packsync.db import backends
from packsync.db.embedded import EmbeddedUnavailable, embedded_url

CONNECT_TIMEOUT_SECONDS = 10.0
# Non-libpq option accepted in the URL for PgBouncer in transaction mode:
# postgresql://...?statement_cache_size=0
_OUR_PARAMS = ("statement_cache_size",)


class DatabaseUnavailable(Exception):
    """The database cannot be reached. `str()` is one line, password masked."""


async def resolve_url(settings: Settings) -> str:
    """The configured database URL, or the embedded server's (started on demand)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    try:
        return await asyncio.to_thread(embedded_url, settings.state_dir)
    except EmbeddedUnavailable as exc:
        raise DatabaseUnavailable(str(exc)) from None


def _split_options(url: str) -> tuple[str, dict[str, Any]]:
    """Strip packsync's own query options from the URL (asyncpg would send them
    to the server as settings)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, Any] = {}
    kept = []
    for key, value in query:
        if key in _OUR_PARAMS:
            try:
                options[key] = int(value)
            except ValueError:
                raise DatabaseUnavailable(
                    f"invalid {key}={value!r} in database URL {mask_url(url)}"
                ) from None
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), options


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, TimeoutError):
        reason = f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
    secret = _password(url)
    if secret:
        reason = reason.replace(secret, "***")
    return DatabaseUnavailable(f"cannot connect to PostgreSQL at {mask_url(url)}: {reason}")


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb/json in and out as Python objects."""
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def _pool_init(settings: Settings) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    """Pool `init`: codecs, client keepalives, and the session noted so that an
    abandoned one can be ended server-side (backends.reap_abandoned)."""

    async def init(conn: asyncpg.Connection) -> None:
        backends.client_keepalive(conn, settings.db_keepalive_seconds)
        await init_connection(conn)
        await backends.track(conn)

    return init


def keepalive_settings(settings: Settings) -> dict[str, str]:
    """Server-side TCP keepalives and user timeout for the session (ignored by
    the server on Unix sockets): the server notices a vanished client in about
    2 x db_keepalive_seconds and ends its session, releasing its locks."""
    idle = settings.db_keepalive_seconds
    if idle <= 0:
        return {}
    return {
        "tcp_keepalives_idle": str(max(1, round(idle))),
        "tcp_keepalives_interval": str(max(1, round(idle / 3))),
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": str(max(1000, round(idle * 2000))),
    }


def search_path(settings: Settings) -> str:
    """packsync's state schema first, then Attune's: queries name tables
    unqualified, and the two schemas share no table name."""
    return f'"{settings.state_schema}", "{settings.db_schema}"'


def _connect_kwargs(settings: Settings, url: str) -> tuple[str, dict[str, Any]]:
    dsn, options = _split_options(url)
    kwargs: dict[str, Any] = {
        "timeout": CONNECT_TIMEOUT_SECONDS,
        "command_timeout": settings.db_command_timeout_seconds,
        "server_settings": {
            "search_path": search_path(settings),
            "application_name": "packsync",
            **keepalive_settings(settings),
        },
        **options,
    }
    return dsn, kwargs


# What a failed connect can raise: socket errors, timeouts, server refusals
# (bad password, missing database), malformed URLs.
_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError)


async def create_pool(settings: Settings, *, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    """A pool on the configured schema. Raises DatabaseUnavailable."""
    url = await resolve_url(settings)
    try:
        dsn, kwargs = _connect_kwargs(settings, url)
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_pool_init(settings), **kwargs
        )
    except _CONNECT_ERRORS as exc:
        raise _unavailable(url, exc) from None
    assert pool is not None
    return pool


async def connect(settings: Settings, *, track: bool = True) -> asyncpg.Connection:
    """A dedicated (unpooled) connection, e.g. to hold the leader lock. Its
    statements are bounded by db_command_timeout_seconds like the pool's; when
    it is abandoned (terminated client-side), `backends.reap_abandoned` ends
    its server session (and the session advisory lock it holds)."""
    url = await resolve_url(settings)
    try:
        dsn, kwargs = _connect_kwargs(settings, url)
        conn = await asyncpg.connect(dsn, **kwargs)
    except _CONNECT_ERRORS as exc:
        raise _unavailable(url, exc) from None
    try:
        backends.client_keepalive(conn, settings.db_keepalive_seconds)
        await init_connection(conn)
        if track:
            await backends.track(conn)
    except BaseException as exc:
        conn.terminate()
        if isinstance(exc, _CONNECT_ERRORS):
            raise _unavailable(url, exc) from None
        raise
    return conn


def is_connection_error(exc: BaseException) -> bool:
    """True when `exc` means the database went away (retry later), not a bug or
    a constraint violation."""
    if isinstance(exc, DatabaseUnavailable | OSError | TimeoutError):
        return True
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.CannotConnectNowError
        | asyncpg.InterfaceError
        # asyncpg's protocol state after the server killed the session mid-way:
        # the connection is unusable, a fresh one is the cure.
        | asyncpg.InternalClientError,
    ):
        return True
    # Class 57: operator intervention (admin shutdown, crash shutdown, ...).
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(("57P", "08"))
