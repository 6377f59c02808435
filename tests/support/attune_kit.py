"""The Attune conformance kit (`../shared/attune`): `attune-check` as the oracle.

Tests that need it skip, with that reason only, when the kit is absent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
KIT = next(
    (p for p in (_REPO.parent / "shared" / "attune", Path("/work/shared/attune")) if p.is_dir()),
    None,
)
CHECKER = KIT / "bin" / "attune-check" if KIT else None
requires_kit = pytest.mark.skipif(
    CHECKER is None or not CHECKER.is_file(), reason="Attune conformance kit is absent"
)
_POSITION = re.compile(r"at position (\d+)")


def _verdicts(out: str) -> list[tuple[bool, str]]:
    rows = []
    for line in out.split("\n")[:-1]:
        _, verdict, message = line.split("\t", 2)
        rows.append((verdict == "OK", message))
    return rows


def check_expressions(texts: list[str]) -> list[tuple[bool, int | None]]:
    """`attune-check expr` on each text (one line each): (accepted, error position)."""
    assert CHECKER is not None
    done = subprocess.run(
        [str(CHECKER), "expr"],
        input="".join(t + "\n" for t in texts).encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    rows = _verdicts(done.stdout.decode())
    assert len(rows) == len(texts), done.stderr
    out: list[tuple[bool, int | None]] = []
    for ok, message in rows:
        match = _POSITION.search(message)
        out.append((ok, int(match.group(1)) if match else None))
    return out


def check_load(paths: list[Path]) -> list[tuple[bool, str]]:
    """`attune-check load` on each file: (accepted, Attune's message)."""
    assert CHECKER is not None
    done = subprocess.run(
        [str(CHECKER), "load", *map(str, paths)], capture_output=True, check=False, timeout=60
    )
    rows = _verdicts(done.stdout.decode())
    assert len(rows) == len(paths), done.stderr
    return rows
