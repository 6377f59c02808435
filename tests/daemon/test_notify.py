"""sd_notify over a real unix datagram socket (path and abstract '@' names)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from packsync.daemon.notify import SystemdNotifier


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_path_socket_receives_ready_status_watchdog_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with _receiver(path) as sock:
        n = SystemdNotifier({"NOTIFY_SOCKET": path})
        assert n.enabled
        assert n.ready("leader: 3 packs in sync")
        assert sock.recv(4096) == b"READY=1\nSTATUS=leader: 3 packs in sync"
        assert n.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        assert n.stopping()
        assert sock.recv(4096).startswith(b"STOPPING=1\n")


def test_abstract_socket_name() -> None:
    name = f"packsync-test-{uuid.uuid4().hex}"
    with _receiver("\0" + name) as sock:
        n = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert n.status("hello")
        assert sock.recv(4096) == b"STATUS=hello"


def test_noop_without_socket_and_after_receiver_is_gone(tmp_path: Path) -> None:
    n = SystemdNotifier({})
    assert not n.enabled and not n.ready("x") and n.watchdog_interval() is None
    gone = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert gone.ready("x") is False  # logged once, never raises


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    assert SystemdNotifier(env).watchdog_interval() == 15.0
    other_pid = {**env, "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SystemdNotifier(other_pid).watchdog_interval() is None
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_interval() == 15.0
