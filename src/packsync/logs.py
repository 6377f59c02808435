"""Logging: structlog for our lines, the stdlib loggers (watchdog, asyncpg,
uvicorn) routed through the same renderer, everything to stderr so stdout
stays clean for data (`--format json`).

Under systemd (stderr is the journal stream named by `JOURNAL_STREAM`) every
line starts with its syslog priority, `<3>` … `<7>` (sd-daemon(3)), so
`journalctl -p warning` filters packsync's lines.

Secrets are masked twice: settings hold them as SecretStr, and a last
processor scrubs URL passwords and secret-looking keys from every event.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from packsync.core.secrets import mask_url

_SECRET_KEYS = re.compile(r"(password|passwd|secret|token|api_key|authorization)", re.I)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url(value)
    return value


def mask_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _SECRET_KEYS.search(key) and event_dict[key] not in (None, ""):
            event_dict[key] = "***"
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time, so a progress bar that
    redirects stderr (cli.output.Progress) prints log lines above itself."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


# logging level → syslog priority (sd-daemon(3) prefixes).
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def syslog_priority(levelno: int) -> int:
    return next((prio for level, prio in _PRIORITY if levelno >= level), 7)


def is_journal_stream(stream: TextIO) -> bool:
    """True when `stream` is the journal connection systemd handed us: the
    `JOURNAL_STREAM=<dev>:<inode>` it exports names this very file."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return bool(expected) and expected == f"{st.st_dev}:{st.st_ino}"


class _PriorityFormatter(logging.Formatter):
    """Prefixes a formatted line with `<N>`, its syslog priority, for journald."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return f"<{syslog_priority(record.levelno)}>{self._inner.format(record)}"


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
) -> None:
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        mask_secrets,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty() and not os.environ.get("NO_COLOR"))
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    if is_journal_stream(stream):
        formatter = _PriorityFormatter(formatter)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Chatty third-party loggers stay at warning unless we debug.
    for name in ("watchdog", "asyncio", "uvicorn.access", "pgserver"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # watchdog 7.1 warns about re-added watch callbacks on new folders: noise for users.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"watchdog\..*")
    # platformdirs (via pgserver) warns when XDG_RUNTIME_DIR is unset, as under systemd/CI.
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    logging.captureWarnings(True)


def get_logger(name: str = "packsync") -> Any:
    return structlog.get_logger(name)
