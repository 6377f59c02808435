"""Realistic Attune-style packs validate with zero errors; typos and dangling
action references planted in them are found on the right line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import parse_action_meta, parse_pack_meta, parse_workflow
from tests.support.paths import EXAMPLES


def _source(pack: str, rel: str, content: bytes) -> SourceFile:
    kind = (
        FileKind.PACK
        if rel == "pack.yaml"
        else FileKind.WORKFLOW
        if "workflows/" in rel
        else FileKind.ACTION
    )
    return SourceFile(pack, rel, f"{pack}/{rel}", kind, content, content_hash(content))


def _pack_files(pack_dir: Path) -> list[SourceFile]:
    return [
        _source(pack_dir.name, p.relative_to(pack_dir).as_posix(), p.read_bytes())
        for p in sorted(pack_dir.rglob("*.y*ml"))
    ]


def _catalog() -> StaticCatalog:
    catalog = StaticCatalog()
    for pack_dir in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        refs: set[str] = set()
        for f in _pack_files(pack_dir):
            if f.kind is FileKind.ACTION:
                meta, diags = parse_action_meta(f)
                assert meta is not None, diags
                refs.add(meta.ref)
            elif f.kind is FileKind.WORKFLOW:
                refs.add(f.stem_ref)
        catalog.packs[pack_dir.name] = refs
    return catalog


CATALOG = _catalog()
WORKFLOWS = [
    f
    for p in sorted(EXAMPLES.iterdir())
    if p.is_dir()
    for f in _pack_files(p)
    if f.kind is FileKind.WORKFLOW
]


def test_examples_include_legacy_and_modern_packs() -> None:
    assert {"legacy_st2", "release_train"} <= set(CATALOG.packs)
    assert len(WORKFLOWS) >= 3


@pytest.mark.parametrize("f", WORKFLOWS, ids=lambda f: f.display_path)
def test_example_workflow_has_zero_errors(f: SourceFile) -> None:
    result = parse_workflow(f, CATALOG)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert not [d for d in result.diagnostics if d.is_error]


@pytest.mark.parametrize("pack", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_example_pack_yaml(pack: str) -> None:
    f = _source(pack, "pack.yaml", (EXAMPLES / pack / "pack.yaml").read_bytes())
    meta, diags = parse_pack_meta(f)
    assert meta is not None and meta.ref == pack, [d.format() for d in diags]
    assert not [d for d in diags if d.is_error]


def _mutate(f: SourceFile, old: str, new: str) -> tuple[SourceFile, int]:
    text = f.content.decode()
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    content = text.replace(old, new, 1).encode()
    return SourceFile(
        f.pack_ref, f.rel_path, f.display_path, f.kind, content, content_hash(content)
    ), line


def _workflow(name: str) -> SourceFile:
    return next(f for f in WORKFLOWS if f.rel_path.endswith(name))


@pytest.mark.parametrize(
    ("file", "old", "new", "code"),
    [
        ("rolling_restart.yaml", "    on-success: verify", "    on_sucess: verify", "unknown-key"),
        (
            "rolling_restart.yaml",
            "    action: legacy_st2.check_http",
            "    action: legacy_st2.check_htp",
            "unknown-action",
        ),
        ("rolling_restart.yaml", "      max-delay: 60", "      max-dealy: 60", "unknown-key"),
        ("health_check.yaml", "        next: slow", "        next: slwo", "unknown-task"),
        (
            "health_check.yaml",
            "    on_complete: [page_oncall]",
            "    on_compelte: [page_oncall]",
            "unknown-key",
        ),
        (
            "ship.workflow.yaml",
            "    action: release_train.deploy",
            "    action: release_train.deplyo",
            "unknown-action",
        ),
        ("ship.workflow.yaml", "        do: [tests]", "        do: [test]", "unknown-task"),
        (
            "ship.workflow.yaml",
            '    with_items: "{{ parameters.regions }}"',
            '    with_item: "{{ parameters.regions }}"',
            "unknown-key",
        ),
        (
            "ship.workflow.yaml",
            '      artifact: "{{ artifact }}"',
            '      artifact: "{{ artefact }}"',
            "unknown-variable",
        ),
    ],
)
def test_planted_mistakes_are_found_on_their_line(file: str, old: str, new: str, code: str) -> None:
    mutated, line = _mutate(_workflow(file), old, new)
    result = parse_workflow(mutated, CATALOG)
    hits = [d for d in result.diagnostics if d.code == code]
    assert hits, [d.format() for d in result.diagnostics]
    assert hits[0].line == line, hits[0].format()
    if code != "undefined-variable":
        assert not result.ok
    assert "did you mean" in hits[0].message


def test_cli_validates_the_example_packs_cleanly() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "packsync", "validate", "--format", "json", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [d for d in json.loads(proc.stdout) if d["severity"] == "error"]


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("packs/demo/pack.yaml", True),
        ("packs/demo/workflows/deploy.yaml", True),
        ("packs/demo/actions/workflows/deploy.workflow.yml", True),
        ("packs/demo/actions/restart.yaml", True),
        ("packs/demo/README.md", False),
        ("packs/demo/workflows/notes/x.txt", False),
        (".github/workflows/ci.yaml", False),
        ("packs/.git/workflows/x.yaml", False),
    ],
)
def test_pre_commit_hook_file_pattern(path: str, matches: bool) -> None:
    import re

    hooks = yaml.safe_load((EXAMPLES.parents[2] / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["entry"] == "packsync validate"
    selected = bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)
    assert selected is matches
