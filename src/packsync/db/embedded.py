"""The zero-config database: a real PostgreSQL from the `pgserver` wheel.

Used when `database_url` is unset, so `packsync run` on a fresh host just works.
The server lives in `<state_dir>/pgdata`, listens on a unix socket only and is
stopped when the last process using it exits.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import structlog

_log = structlog.get_logger()
_lock = threading.Lock()
_started: dict[Path, tuple[str, Any]] = {}


class EmbeddedUnavailable(Exception):
    """The embedded server could not start (message is one line)."""


def embedded_url(state_dir: Path) -> str:
    """Start (or reuse) the embedded server for `state_dir`; return its unix-socket URI.

    Blocking (initdb + pg_ctl): call it from a worker thread in async code.
    """
    pgdata = (state_dir / "pgdata").expanduser().resolve()
    with _lock:
        if pgdata in _started:
            return str(_started[pgdata][0])
        try:
            # pgserver narrates every step at INFO and platformdirs warns about
            # XDG_RUNTIME_DIR at import: the operator gets our one line instead.
            logging.getLogger("pgserver").setLevel(logging.WARNING)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pgserver import get_server  # type: ignore[attr-defined]

            pgdata.parent.mkdir(parents=True, exist_ok=True)
            server = get_server(pgdata, cleanup_mode="stop")
            uri = str(server.get_uri())
        except Exception as exc:  # pgserver raises assorted subprocess/OS errors
            raise EmbeddedUnavailable(
                f"cannot start the embedded PostgreSQL in {pgdata}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip()
            ) from None
        _started[pgdata] = (uri, server)
    _log.info(
        "database_url is not set: using the embedded PostgreSQL",
        pgdata=str(pgdata),
        hint="set ATTUNE__DATABASE_URL to use your own server",
    )
    return uri


def stop_embedded(state_dir: Path) -> None:
    """Stop the embedded server this process started (it also stops at exit)."""
    pgdata = (state_dir / "pgdata").expanduser().resolve()
    with _lock:
        entry = _started.pop(pgdata, None)
    if entry is not None:
        entry[1].cleanup()
