"""The CLI as an operator sees it: located diagnostics in `sync`, a totals line,
one line and the right exit code for everyday failures, and a terminal (a real
pseudo-terminal) where the progress bar never collides with log lines."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from tests.cli.test_commands import packsync
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

BROKEN = (
    "version: '1'\nlabel: Broken\ntasks:\n  - name: a\n    action: core.echo\n    on_sucess: b\n"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(
    args: list[str],
    env: dict[str, str],
    *,
    react: Callable[[subprocess.Popen[bytes], str], None] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run `packsync ARGS` with stdin/stdout/stderr on a pseudo-terminal."""
    leader, follower = os.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "packsync", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**clean, "TERM": "xterm-256color", **env},
        start_new_session=True,
    )
    os.close(follower)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if react is not None:
                    react(proc, out.decode(errors="replace"))
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return code, out.decode(errors="replace")


def test_sync_text_names_each_failing_file_with_its_location_and_ends_with_totals(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    base = tmp_path / "packs"
    make_core_pack(base)
    make_pack(base, "demo", {"good.yaml": workflow_yaml(), "broken.yaml": BROKEN})
    proc = packsync(
        "sync", "--packs-base-dir", str(base), env={**db_env, "ATTUNE__LOG_FORMAT": "json"}
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    broken = str(base / "demo" / "workflows" / "broken.yaml")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("demo: errors"), proc.stdout
    located = [line.strip() for line in lines if line.strip().startswith(broken + ":6:5:")]
    assert located and "error[unknown-key]" in located[0] and "on_success" in located[0]
    assert re.fullmatch(
        r"2 pack\(s\) in \d+\.\d s: 1 created, 0 updated, 0 unchanged, 0 deleted, 1 failed"
        r" \(1 pack\(s\) with errors\)",
        lines[-1],
    ), lines[-1]
    # the daemon and a non-terminal run log the same located lines with the pack
    logged = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    (synced,) = [e for e in logged if e["event"] == "pack synced"]
    assert synced["problems"] and synced["problems"][0].startswith(broken + ":6:5: error[")


def test_sync_of_a_missing_packs_directory_is_one_line_and_exit_2(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    missing = tmp_path / "nowhere"
    proc = packsync("sync", "--packs-base-dir", str(missing), env=db_env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"packsync: packs directory {missing} does not exist: "
        "set --packs-base-dir or ATTUNE__PACKS_BASE_DIR"
    ]


def test_tty_progress_bar_never_glues_onto_log_lines(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    base = tmp_path / "packs"
    make_core_pack(base)
    for i in range(30):
        make_pack(base, f"pack{i:02d}", {"one.yaml": workflow_yaml(f"P{i}")})
    make_pack(base, "zbroken", {"broken.yaml": BROKEN})
    code, out = run_in_pty(
        ["sync", "--packs-base-dir", str(base)], {**db_env, "ATTUNE__LOG_FORMAT": "console"}
    )
    assert code == 1, out
    text = _ANSI.sub("", out).replace("\r", "\n")
    assert re.search(r"\d+/32 packs", text), text  # the bar was drawn
    # per-pack "pack synced" log lines are debug-level under the bar
    assert "pack synced" not in text and "pack05: ok" not in text
    for line in text.splitlines():
        # a timestamped log line never shares its line with the bar
        assert not re.search(r"\S\d{4}-\d\d-\d\dT\d\d:\d\d", line), line
    assert "zbroken/workflows/broken.yaml:6:5: error[unknown-key]" in text
    assert "32 pack(s) in" in text


def test_no_color_is_honoured_on_a_terminal(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    make_pack(base, "demo", {"broken.yaml": BROKEN})
    code, out = run_in_pty(["validate", "--packs-base-dir", str(base)], {})
    assert code == 1 and "\x1b[" in out, out
    code, out = run_in_pty(["validate", "--packs-base-dir", str(base)], {"NO_COLOR": "1"})
    assert code == 1 and "\x1b[" not in out and "error[unknown-key]" in out, out


async def test_ctrl_c_says_what_was_committed_and_records_the_run(
    tmp_path: Path, db_env: dict[str, str], pg_url: str, db_schema: str, state_schema: str
) -> None:
    base = tmp_path / "packs"
    make_core_pack(base)
    files = {f"w{j}.yaml": workflow_yaml(f"W{j}") for j in range(8)}
    for i in range(150):
        make_pack(base, f"pack{i:03d}", files)
    interrupted = False

    def interrupt(proc: subprocess.Popen[bytes], out: str) -> None:
        nonlocal interrupted
        seen = [int(n) for n in re.findall(r"(\d+)/151 packs", _ANSI.sub("", out))]
        if not interrupted and seen and max(seen) >= 10:
            proc.send_signal(signal.SIGINT)
            interrupted = True

    code, out = await asyncio.to_thread(
        run_in_pty, ["sync", "--packs-base-dir", str(base)], db_env, react=interrupt
    )
    assert interrupted, out
    assert code == 130, out
    found = re.search(r"interrupted: (\d+) pack\(s\) synced and committed", _ANSI.sub("", out))
    assert found, out
    done = int(found.group(1))
    assert 10 <= done < 151
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'SET search_path = "{state_schema}", "{db_schema}"')
        packs = await conn.fetchval("SELECT count(DISTINCT pack_ref) FROM workflow_definition")
        run = await conn.fetchrow(
            "SELECT outcome, message FROM sync_run WHERE pack_ref IS NULL ORDER BY id DESC LIMIT 1"
        )
    finally:
        await conn.close()
    # `core` has no workflows; the pack whose commit raced the signal may be one more
    assert done - 1 <= packs <= done
    assert run is not None and run["outcome"] == "interrupted"
    assert f"after {done} pack(s)" in run["message"]


def test_run_on_a_port_in_use_is_one_error_line_and_exit_2(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    import socket

    (tmp_path / "packs").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = packsync(
            "run", "--packs-base-dir", str(tmp_path / "packs"), "--port", str(port),
            env={**db_env, "ATTUNE__LOG_FORMAT": "json"}, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    errors = [
        json.loads(line)
        for line in proc.stderr.splitlines()
        if line.startswith("{") and json.loads(line)["level"] in ("error", "critical")
    ]
    assert [e["event"] for e in errors] == [
        f"HTTP port {port} on 127.0.0.1 is already in use: choose another with --port"
    ]
    assert "Traceback" not in proc.stderr


def test_validate_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    make_core_pack(base)
    for i in range(30):
        make_pack(base, f"pack{i:02d}", {f"w{j}.yaml": workflow_yaml("W") for j in range(10)})
    code, out = run_in_pty(["validate", "--packs-base-dir", str(base)], {})
    assert code == 0, out
    text = _ANSI.sub("", out).replace("\r", "\n")
    assert re.search(r"\d+/31 packs", text), text
    assert "31 pack(s), 300 workflow file(s): 0 error(s), 0 warning(s)" in text
