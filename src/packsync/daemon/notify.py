"""sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET.

A no-op when NOTIFY_SOCKET is unset, so the same code runs under systemd,
in a container and in tests. Abstract socket names start with '@'.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class SystemdNotifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if raw.startswith("@"):
            self.address = "\0" + raw[1:]
        elif raw.startswith("/"):
            self.address = raw
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when
        systemd's watchdog is not enabled for this process."""
        if not self.enabled or not self._watchdog_usec.isdigit():
            return None
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None
        usec = int(self._watchdog_usec)
        return usec / 2 / 1_000_000 if usec > 0 else None

    def notify(self, *lines: str) -> bool:
        """Send `KEY=value` lines in one datagram; False when not sent."""
        if self.address is None:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(payload)
        except OSError as exc:
            if not self._warned:  # once: a broken socket must not flood the log
                log.warning("sd_notify failed", error=str(exc))
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify("STOPPING=1", f"STATUS={status}")
