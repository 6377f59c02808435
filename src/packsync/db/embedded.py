"""The zero-config database: a real PostgreSQL from the `pgserver` wheel.

Used when `database_url` is unset, so `packsync run` on a fresh host just works.
The server lives in `<state_dir>/pgdata`, listens on a unix socket only and is
stopped when the last process using it exits.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

_log = structlog.get_logger()
_lock = threading.Lock()
_started: dict[Path, str] = {}


class EmbeddedUnavailable(Exception):
    """The embedded server could not start (message is one line)."""


def embedded_url(state_dir: Path) -> str:
    """Start (or reuse) the embedded server for `state_dir`; return its unix-socket URI.

    Blocking (initdb + pg_ctl): call it from a worker thread in async code.
    """
    pgdata = (state_dir / "pgdata").expanduser().resolve()
    with _lock:
        if pgdata in _started:
            return _started[pgdata]
        try:
            from pgserver import get_server  # type: ignore[attr-defined]

            pgdata.parent.mkdir(parents=True, exist_ok=True)
            server = get_server(pgdata, cleanup_mode="stop")
            uri = str(server.get_uri())
        except Exception as exc:  # pgserver raises assorted subprocess/OS errors
            raise EmbeddedUnavailable(
                f"cannot start the embedded PostgreSQL in {pgdata}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip()
            ) from None
        _started[pgdata] = uri
    _log.info(
        "database_url is not set: using the embedded PostgreSQL",
        pgdata=str(pgdata),
        hint="set ATTUNE__DATABASE_URL to use your own server",
    )
    return uri
