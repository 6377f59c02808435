# ruff: noqa: E501
"""Hostile files: each gives a located error naming the file, never an
exception, within generous time and memory bounds (these catch hangs and
blow-ups, not performance regressions: those live in tests/bench/)."""

from __future__ import annotations

import codecs
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from packsync.core.diagnostics import Diagnostic
from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import parse_pack_meta, parse_workflow

CATALOG = StaticCatalog({"core": {"core.echo"}})
# A hang guard, not a speed goal (those live in tests/bench/): a hostile file that
# takes this long under tracemalloc on a loaded 2-core machine is a hang.
HANG_LIMIT_S = 120.0
MEMORY_LIMIT = 300 * 1024 * 1024


def _laughs(levels: int, flow_map: bool = False) -> bytes:
    lines = ['l0: &l0 "lol"']
    for i in range(1, levels + 1):
        refs = ", ".join(f"k{j}: *l{i - 1}" if flow_map else f"*l{i - 1}" for j in range(10))
        lines.append(f"l{i}: &l{i} {{{refs}}}" if flow_map else f"l{i}: &l{i} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


def _tasks(n: int, body: str) -> bytes:
    return (
        "version: '1.0'\ntasks:\n" + "".join(body.format(i=i, j=(i + 1) % n) for i in range(n))
    ).encode()


HEAD = b"version: '1.0'\ntasks:\n  - name: a\n    action: core.echo\n"

CASES: dict[str, bytes] = {
    "billion-laughs": _laughs(9),
    "billion-laughs-flow-maps": _laughs(9, flow_map=True),
    "quadratic-big-string": b"a: &a '"
    + b"x" * 200_000
    + b"'\nb: ["
    + b", ".join([b"*a"] * 5_000)
    + b"]\n",
    "merge-key-bomb": b"a: &a {x: 1, y: 2, z: 3}\n"
    + b"".join(
        b"m%d: &m%d {<<: [" % (i, i)
        + b", ".join([b"*a" if i == 0 else b"*m%d" % (i - 1)] * 10)
        + b"]}\n"
        for i in range(8)
    )
    + b"tasks: []\n",
    "recursive-alias": b"a: &a [1, *a]\n",
    "recursive-alias-map": b"a: &a {b: *a}\n",
    "undefined-alias": b"version: '1.0'\ntasks: *nothing\n",
    "nested-flow-seqs-20000": b"[" * 20_000 + b"]" * 20_000,
    "nested-flow-maps-20000": b"{a: " * 20_000 + b"}" * 20_000,
    "nested-block-maps": b"".join(b"  " * i + b"k%d:\n" % i for i in range(3_000)),
    "nested-block-seqs": b"- " * 5_000 + b"x\n",
    "unclosed-nesting": b"version: '1.0'\ntasks: " + b"[" * 50_000,
    "nul-bytes": HEAD + b"    input: {x: 'a\x00b'}\n",
    "nul-escape-for-jsonb": HEAD + b'    input: {x: "a\\0b"}\n',
    "nul-escape-in-key": HEAD + b'    input: {"k\\0": 1}\n',
    "utf16-with-bom": codecs.BOM_UTF16_LE + "version: '1.0'\ntasks: []\n".encode("utf-16-le"),
    "latin1": b"version: '1.0'\ndescription: 'd\xe9ploiement'\ntasks: []\n",
    "truncated-utf8": HEAD + b"    input: {x: 'caf\xc3'}",
    "random-binary": bytes(range(1, 256)) * 64,
    "empty": b"",
    "whitespace-only": b"   \n\t\n  \n",
    "comments-only": b"# nothing\n# here\n",
    "null-document": b"---\n...\n",
    "scalar-document": b"just a string\n",
    "list-document": b"- version: '1.0'\n- tasks: []\n",
    "python-apply-tag": b"version: !!python/object/apply:os.system ['touch /tmp/pwned']\ntasks: []\n",
    "python-name-tag": b"version: '1.0'\ntasks: !!python/name:os.system\n",
    "python-module-tag": b"version: '1.0'\nx: !!python/module:os\n",
    "local-tag": b"version: '1.0'\ntasks: !include other.yaml\n",
    "binary-tag": b"version: '1.0'\nx: !!binary aGVsbG8=\n",
    "set-tag": b"version: '1.0'\nx: !!set {a, b}\n",
    "multiple-documents": HEAD + b"---\n" + HEAD,
    "unclosed-quote": b"version: '1.0\ntasks: []\n",
    "tab-indentation": b"version: '1.0'\ntasks:\n\t- name: a\n",
    "control-characters": b"version: '1.0'\ndescription: \x07\x1b[31m\ntasks: []\n",
    "megabyte-scalar-root": b"x" * 1_048_576,
    "twenty-thousand-keys": b"".join(b"k%d: %d\n" % (i, i) for i in range(20_000)),
    "infinite-float": HEAD + b"    timeout: 1e99999\n",
    "huge-integer": HEAD + b"    timeout: " + b"9" * 20_000 + b"\n",
    "template-paren-bomb": HEAD
    + b"    input: {x: '{{ "
    + b"(" * 10_000
    + b"1"
    + b")" * 10_000
    + b" }}'}\n",
    "template-block-nesting": HEAD
    + b"    input: {x: '"
    + b"{% if x %}" * 2_000
    + b"y"
    + b"{% endif %}" * 2_000
    + b"'}\n",
    "template-unclosed": HEAD + b"    input: {x: '{{ " + b"a." * 50_000 + b"'}\n",
    "all-tasks-in-a-cycle-5000": _tasks(
        5_000, "  - name: t{i}\n    action: core.echo\n    on_success: t{j}\n"
    ),
    "5000-dangling-targets": _tasks(
        5_000, "  - name: task{i}\n    action: core.echo\n    on_success: tsak{i}\n"
    ),
    "duplicate-keys-spam": b"version: '1.0'\n" + b"tasks: []\n" * 20_000,
    "complex-keys": b"? [a, b]\n: c\n",
    "deep-json-in-input": HEAD + b"    input: " + b'{"a": ' * 150 + b"1" + b"}" * 150 + b"\n",
}


def _run(fn: Callable[[], list[Diagnostic]]) -> tuple[list[Diagnostic], float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        diags = fn()
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return diags, elapsed, peak


def _source(content: bytes, rel: str, kind: FileKind) -> SourceFile:
    return SourceFile("demo", rel, f"packs/demo/{rel}", kind, content, content_hash(content))


def test_there_are_at_least_thirty_classes() -> None:
    assert len(CASES) >= 30


def test_diagnostics_are_capped_per_file() -> None:
    result = parse_workflow(
        _source(CASES["5000-dangling-targets"], "workflows/x.yaml", FileKind.WORKFLOW), CATALOG
    )
    assert len(result.diagnostics) == 201
    assert result.diagnostics[-1].code == "too-many-diagnostics"
    assert result.diagnostics[-1].is_error
    assert "4800 more" in result.diagnostics[-1].message


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_workflow(name: str) -> None:
    src = _source(CASES[name], "workflows/evil.yaml", FileKind.WORKFLOW)
    result = None

    def run() -> list[Diagnostic]:
        nonlocal result
        result = parse_workflow(src, CATALOG)
        return result.diagnostics

    diags, elapsed, peak = _run(run)
    errors = [d for d in diags if d.is_error]
    assert errors, f"{name}: no error"
    assert all(d.file == "packs/demo/workflows/evil.yaml" for d in diags)
    assert all(d.line >= 1 and d.column >= 1 for d in errors), [d.format() for d in errors]
    assert not any(d.code == "internal-error" for d in diags), [d.format() for d in diags]
    assert elapsed < HANG_LIMIT_S, f"{name}: {elapsed:.1f}s"
    assert peak < MEMORY_LIMIT, f"{name}: {peak / 2**20:.0f} MiB"
    assert result is not None and not result.ok
    assert len(diags) <= 201


@pytest.mark.parametrize(
    "name",
    [
        "billion-laughs",
        "nested-flow-seqs-20000",
        "python-apply-tag",
        "nul-bytes",
        "latin1",
        "empty",
        "list-document",
    ],
)
def test_hostile_pack_yaml(name: str) -> None:
    src = _source(CASES[name], "pack.yaml", FileKind.PACK)
    meta, diags = parse_pack_meta(src)
    assert meta is None
    assert diags and all(d.file == "packs/demo/pack.yaml" and d.line >= 1 for d in diags)


def test_python_tags_never_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    content = f"version: !!python/object/apply:os.system ['touch {marker}']\ntasks: []\n".encode()
    result = parse_workflow(_source(content, "workflows/x.yaml", FileKind.WORKFLOW), CATALOG)
    assert [d.code for d in result.diagnostics] == ["yaml-tag"]
    assert not marker.exists()


def test_encoding_error_points_at_the_bad_byte() -> None:
    result = parse_workflow(
        _source(CASES["latin1"], "workflows/x.yaml", FileKind.WORKFLOW), CATALOG
    )
    (diag,) = result.diagnostics
    assert (diag.code, diag.line, diag.column) == ("encoding", 2, 16)


def test_large_valid_workflow_is_linear_ish() -> None:
    small = _tasks(
        500,
        "  - name: t{i}\n    action: core.echo\n    input: {{x: '{{{{ parameters.x }}}}'}}\n    on_success: t{j}\n",
    )
    big = _tasks(
        5_000,
        "  - name: t{i}\n    action: core.echo\n    input: {{x: '{{{{ parameters.x }}}}'}}\n    on_success: t{j}\n",
    )
    timings = []
    for content in (small, big):
        src = _source(content, "workflows/big.yaml", FileKind.WORKFLOW)
        start = time.perf_counter()
        result = parse_workflow(src, CATALOG)
        timings.append(time.perf_counter() - start)
        assert {d.code for d in result.diagnostics} == {"no-entry-task"}
    # 10x the tasks must not cost 100x the time (generous: catches quadratic behaviour)
    assert timings[1] < max(timings[0], 0.05) * 40, timings


@pytest.mark.parametrize(
    "name",
    ["billion-laughs", "nested-flow-seqs-20000", "python-apply-tag", "latin1", "random-binary"],
)
def test_cli_validate_reports_and_exits_1(name: str, tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "demo"
    (pack / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: demo\nversion: 1.0.0\n")
    (pack / "workflows" / "evil.yaml").write_bytes(CASES[name])
    proc = subprocess.run(
        [sys.executable, "-m", "packsync", "validate", str(tmp_path / "packs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "evil.yaml:" in proc.stdout + proc.stderr
