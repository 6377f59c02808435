"""The CLI as users run it: a real process, real files, a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml
from tests.support.paths import EXAMPLES


def packsync(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    return subprocess.run(
        [sys.executable, "-m", "packsync", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
        check=False,
    )


def test_examples_validate_cleanly() -> None:
    proc = packsync("validate", "--packs-base-dir", str(EXAMPLES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error[" not in proc.stdout
    assert "0 error(s)" in proc.stderr


def test_validate_reports_located_errors_and_exits_1(tmp_path: Path) -> None:
    make_core_pack(tmp_path)
    make_pack(
        tmp_path, "demo", {"ok.yaml": workflow_yaml(), "broken.yaml": "version: '1'\ntasks: [\n"}
    )
    proc = packsync("validate", "--packs-base-dir", str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    broken = str(tmp_path / "demo" / "workflows" / "broken.yaml")
    lines = [line for line in proc.stdout.splitlines() if line.startswith(broken + ":")]
    assert lines, proc.stdout
    _path, line, col, rest = lines[0].split(":", 3)
    assert int(line) >= 2 and int(col) >= 1
    assert rest.startswith(" error[")
    assert "Traceback" not in proc.stderr


def test_validate_json_and_github_formats(tmp_path: Path) -> None:
    make_pack(tmp_path, "demo", {"broken.yaml": "version: '1'\ntasks: [\n"})
    proc = packsync("validate", "--format", "json", str(tmp_path / "demo"))
    assert proc.returncode == 1
    diagnostics = json.loads(proc.stdout)
    assert diagnostics and {"file", "line", "column", "code", "severity", "message"} <= set(
        diagnostics[0]
    )
    proc = packsync("validate", "--format", "github", str(tmp_path / "demo"))
    assert proc.returncode == 1
    assert any(line.startswith("::error file=") for line in proc.stdout.splitlines())


def test_validate_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    proc = packsync("validate", "--packs-base-dir", str(tmp_path), "no-such-pack")
    assert proc.returncode == 2
    assert "no such pack or path" in proc.stderr


def test_schema_prints_json_schema() -> None:
    proc = packsync("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema.get("type") == "object" and "tasks" in schema.get("properties", {})


def test_sync_list_count_delete_roundtrip(tmp_path: Path, db_env: dict[str, str]) -> None:
    base = ["--packs-base-dir", str(EXAMPLES)]
    first = packsync("sync", *base, "--format", "json", env=db_env)
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads(first.stdout)
    created = sum(p["created"] for p in report["packs"])
    assert created >= 4
    second = packsync("sync", *base, "--format", "json", env=db_env)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)["packs"]
    assert sum(p["created"] + p["updated"] + p["deleted"] for p in again) == 0
    assert sum(p["unchanged"] for p in again) == created

    listed = packsync("list", *base, "--format", "json", "--pack", "demo", env=db_env)
    assert listed.returncode == 0, listed.stderr
    refs = sorted(w["ref"] for w in json.loads(listed.stdout)["workflows"])
    assert refs == ["demo.backup_all", "demo.deploy"]
    text = packsync("list", *base, "--search", "ROLL", env=db_env)
    assert "demo.deploy" in text.stdout and "ops.triage" not in text.stdout

    count = packsync("count", *base, "demo", env=db_env)
    assert (count.returncode, count.stdout.strip()) == (0, "2")
    deleted = packsync("delete", *base, "demo", env=db_env)
    assert deleted.returncode == 0, deleted.stderr
    count = packsync("count", *base, "demo", env=db_env)
    assert count.stdout.strip() == "0"


def test_unreachable_database_exits_3_with_masked_password(tmp_path: Path) -> None:
    env = {"ATTUNE__DATABASE_URL": "postgresql://attune:hunter2@127.0.0.1:1/attune"}
    proc = packsync("sync", "--packs-base-dir", str(EXAMPLES), env=env, timeout=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "unreachable" in proc.stderr


def test_delete_of_a_pack_another_sync_group_owns_exits_2_without_a_traceback(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    base = tmp_path / "packs"
    make_core_pack(base)
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    flags = ["--packs-base-dir", str(base)]
    synced = packsync("sync", *flags, env={**db_env, "ATTUNE__SYNC_GROUP": "east"})
    assert synced.returncode == 0, synced.stdout + synced.stderr
    refused = packsync("delete", *flags, "alpha", env={**db_env, "ATTUNE__SYNC_GROUP": "west"})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "sync_group 'east'" in refused.stderr and "Traceback" not in refused.stderr
    count = packsync("count", *flags, "alpha", env=db_env)
    assert count.stdout.strip() == "1"
