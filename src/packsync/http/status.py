"""What the HTTP server needs from the daemon it serves: the probe answers and
the metrics text. The daemon's state satisfies it; the server never imports
daemon modules, so either side can change without the other."""

from __future__ import annotations

from typing import Any, Protocol


class MetricsSource(Protocol):
    def render(self) -> bytes: ...


class DaemonStatus(Protocol):
    """Liveness and readiness as (ok, named checks); status for /status."""

    @property
    def role(self) -> str: ...

    @property
    def metrics(self) -> MetricsSource: ...

    def live(self) -> tuple[bool, dict[str, bool]]: ...

    def ready(self) -> tuple[bool, dict[str, bool]]: ...

    def status(self) -> dict[str, Any]: ...
