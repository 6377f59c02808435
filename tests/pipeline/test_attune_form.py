# ruff: noqa: E501
"""Differential test against Attune itself (the conformance kit's `attune-check`).

Every workflow file the project has — the example packs, every workflow text
the other tests use, and generated files for each legacy spelling — goes
through packsync and through Attune's own parser/registrar/executor loading:

- a file Attune's loader accepts (no silently ignored keys) and packsync
  accepts is stored exactly as `attune-check emit` prints it;
- every definition packsync would store passes `attune-check stored --strict`;
- each legacy spelling stores what Attune emits for its native equivalent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from packsync.core.diagnostics import has_errors
from packsync.pipeline.load import load_pack
from packsync.pipeline.model import (
    FileKind,
    ParsedWorkflow,
    SourceFile,
    StaticCatalog,
    content_hash,
)
from packsync.pipeline.parse import parse_workflow
from packsync.pipeline.scan import scan_pack
from tests.support.paths import REPO, TESTS

EXAMPLES = REPO / "docs" / "examples" / "packs"


def _kit() -> Path | None:
    for root in (REPO.parent / "shared" / "attune", Path("/work/shared/attune")):
        if (root / "bin" / "attune-check").is_file():
            return root / "bin" / "attune-check"
    return None


CHECK = _kit()
pytestmark = pytest.mark.skipif(
    CHECK is None, reason="the Attune conformance kit (../shared/attune) is absent"
)
CATALOG = StaticCatalog()  # actions in neither place only warn


def check(*args: str, stdin: str | None = None) -> list[tuple[str, str, str]]:
    """`attune-check ARGS` → (path, OK|ERROR, message) per input."""
    assert CHECK is not None
    out = subprocess.run(
        [str(CHECK), *args], input=stdin, capture_output=True, text=True, check=False
    )
    assert out.returncode in (0, 1), out.stderr
    rows = [[*line.split("\t", 2), "", ""] for line in out.stdout.splitlines()]
    return [(r[0], r[1], r[2]) for r in rows]


def emit(path: Path, parsed: ParsedWorkflow | None = None) -> dict[str, Any] | None:
    """What Attune's registrar (or, for an action-linked file, its pack loader) stores."""
    assert CHECK is not None
    args = [str(CHECK), "emit", str(path)]
    action = parsed.action if parsed is not None else None
    if action is not None:
        args += ["--action-ref", action.ref, "--action-label", action.label]
        if action.description is not None:
            args += ["--action-description", action.description]
        for tag in action.tags or []:
            args += ["--action-tag", tag]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def stored_strict(definitions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    stdin = "".join(json.dumps(d) + "\n" for d in definitions)
    return check("stored", "--strict", "-", stdin=stdin)


@dataclass
class Case:
    label: str
    path: Path
    parsed: ParsedWorkflow


def _example_cases() -> list[Case]:
    cases = []
    for pack_dir in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        scanned = scan_pack(EXAMPLES, pack_dir.name, max_file_size=1 << 20)
        assert scanned is not None
        for parsed in load_pack(scanned, CATALOG).workflows:
            cases.append(Case(f"example {parsed.file_path}", pack_dir / parsed.file_path, parsed))
    return cases


def _harvest(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        if "tasks" in value and "\n" in value:
            out.append(value)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _harvest(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _harvest(item, out)


def _fixture_texts() -> list[str]:
    """Every module-level workflow text of the test suite (strings, and strings in
    lists/tuples/dicts) that YAML-loads into a mapping with `tasks`."""
    texts: list[str] = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.resolve() == Path(__file__).resolve() or "bench" in path.parts:
            continue
        name = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name, fromlist=["_"])
            except Exception:  # a module that needs optional extras
                continue
        found: list[str] = []
        _harvest(list(vars(module).values()), found)
        for text in found:
            try:
                data = yaml.safe_load(text)
            except (yaml.YAMLError, RecursionError):
                continue
            if isinstance(data, dict) and "tasks" in data and text not in texts:
                texts.append(_with_ref(text, data))
    return texts


def _with_ref(text: str, data: dict[str, Any]) -> str:
    """Most fixtures omit `ref` (packsync derives it; Attune's loader requires it):
    give them one so Attune's verdict is about everything else."""
    if "ref" in data:
        return text
    candidate = "ref: demo.flow\n" + text
    try:
        same = yaml.safe_load(candidate) == {"ref": "demo.flow", **data}
    except (yaml.YAMLError, RecursionError):
        same = False
    return candidate if same else text


def _write(root: Path, index: int, text: str) -> tuple[Path, SourceFile]:
    data = yaml.safe_load(text)
    ref = data.get("ref") if isinstance(data, dict) else None
    pack, name = ("demo", "flow")
    if isinstance(ref, str) and "." in ref and len(ref) < 200:
        pack, name = ref.split(".", 1)
    folder = root / f"f{index}"
    folder.mkdir()
    path = folder / f"{name}.yaml"
    raw = text.encode()
    path.write_bytes(raw)
    rel = f"workflows/{name}.yaml"
    return path, SourceFile(pack, rel, str(path), FileKind.WORKFLOW, raw, content_hash(raw))


# Attune-native files using every field and every folding rule of parser.rs.
NATIVE = [
    """ref: demo.full
label: Full
description: every field
version: 2.1.0
parameters: {type: object, properties: {n: {type: integer}}, required: [n]}
output: {type: object}
vars: {count: 0, names: [a], cfg: {k: v}}
output_map: {total: "{{ count }}"}
tags: [x, y]
cancellation_policy: cancel_running
tasks:
  - name: start
    action: core.echo
    input: {msg: "{{ parameters.n }}", nested: {a: [1, 2]}}
    permission_set_refs: [ops, "{{ parameters.n }}"]
    worker_selector: {zone: eu}
    worker_tolerations: [{key: gpu}]
    worker_affinity: "{{ parameters.n }}"
    when: "{{ parameters.n > 0 }}"
    timeout: 30
    retry: {count: 3, delay: 2, backoff: exponential, max_delay: 20, on_error: "{{ true }}"}
    __chart_meta__: {x: 1, y: 2}
    next:
      - when: "{{ succeeded() }}"
        publish:
          - count: "{{ count + 1 }}"
          - whole
          - {ok: true, n: 3.5, none: null}
        do: [fan, loop]
        __chart_meta__: {color: green}
      - when: "{{ failed() }}"
        do: [end]
      - do: []
  - name: fan
    type: parallel
    tasks:
      - {name: s1, action: core.echo, on_success: s2}
      - {name: s2, action: core.echo}
    next: [{do: [end]}]
  - name: loop
    action: core.echo
    with_items: "{{ names }}"
    batch_size: 5
    concurrency: 2
    next: [{when: "{{ succeeded() }}", do: [end]}]
  - name: end
    action: core.echo
    join: 2
""",
    """ref: demo.folds
version: '1'
tasks:
  - name: a
    action: core.echo
    on_success: b
    on_failure: c
    on_complete: d
    on_timeout: c
    decision:
      - {when: "{{ result().x }}", next: b}
      - {next: d, default: true}
    publish:
      - r: "{{ result() }}"
      - key
  - name: b
    action: core.echo
    publish: [{only: 1}]
  - name: c
    action: core.echo
    on_failure: d
    publish: [{on_failure_first: 1}]
  - {name: d, action: core.echo, on_complete: e, publish: [{x: 1}]}
  - {name: e, action: core.echo}
""",
    """ref: demo.alias
version: "1"
label: Alias
tasks:
  - name: a
    type: workflow
    action: demo.other
    permission_set_ref: ops
    __chart_meta__: null
    next:
      - when: null
        do: [b]
        __chart_meta__: null
      - when: "{{ failed() }}"
  - {name: b, action: core.echo, timeout: 5, retry: {count: 1, delay: 0}}
""",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    root = tmp_path_factory.mktemp("form")
    cases = _example_cases()
    texts = [("fixture", t) for t in _fixture_texts()]
    texts += [("native", t) for t in NATIVE] + [("native " + c[0], c[2]) for c in LEGACY]
    texts += [("legacy " + c[0], c[1]) for c in LEGACY]
    for i, (label, text) in enumerate(texts):
        path, source = _write(root, i, text)
        cases.append(Case(f"{label} #{i}", path, parse_workflow(source, CATALOG)))
    return cases


def _accepted_by_attune(cases: list[Case]) -> dict[str, tuple[str, str]]:
    """path → (status, message) of Attune's loader (the pack loader's parse for
    action-linked files); OK with `ignored keys` counts as not accepted: Attune
    silently drops those keys, packsync reads them (hyphenated keys)."""
    linked = [str(c.path) for c in cases if c.parsed.action is not None]
    plain = [str(c.path) for c in cases if c.parsed.action is None]
    rows = check("load", *plain) if plain else []
    rows += check("load", "--action-linked", *linked) if linked else []
    return {p: (s, m) for p, s, m in rows}


def test_corpus_is_the_whole_project(corpus: list[Case]) -> None:
    examples = list(EXAMPLES.glob("*/workflows/*.y*ml")) + list(
        EXAMPLES.glob("*/actions/workflows/*.y*ml")
    )
    assert len([c for c in corpus if c.label.startswith("example")]) == len(examples)
    assert len([c for c in corpus if c.label.startswith("fixture")]) > 40  # the suite's


def test_what_attune_accepts_is_stored_exactly_as_attune_stores_it(corpus: list[Case]) -> None:
    verdicts = _accepted_by_attune(corpus)
    compared, mismatches = 0, []
    for case in corpus:
        status, message = verdicts[str(case.path)]
        if status != "OK" or "ignored keys" in message:
            continue
        codes = {d.code for d in case.parsed.diagnostics}
        if case.parsed.definition is None or "yaml-value" in codes:
            continue  # e.g. `.nan`, which JSON (and so jsonb) cannot hold
        # also where packsync is stricter (reachability, templates, ...): the
        # definition it builds is still Attune's
        expected = emit(case.path, case.parsed)
        compared += 1
        if case.parsed.definition != expected:
            mismatches.append((case.label, expected, case.parsed.definition))
    assert not mismatches, json.dumps(mismatches[0], indent=1, sort_keys=True)[:6000]
    assert compared >= 40


def test_every_stored_definition_loads_in_attunes_executor(corpus: list[Case]) -> None:
    stored = [c for c in corpus if c.parsed.ok]
    rows = stored_strict([c.parsed.definition or {} for c in stored])
    assert len(rows) == len(stored) >= 40
    failures = [(c.label, r) for c, r in zip(stored, rows, strict=True) if r[1] != "OK"]
    assert not failures


def test_action_linked_columns_come_from_the_action_yaml() -> None:
    scanned = scan_pack(EXAMPLES, "demo", max_file_size=1 << 20)
    assert scanned is not None
    (linked,) = [w for w in load_pack(scanned, CATALOG).workflows if w.action is not None]
    assert linked.ok and linked.definition is not None
    assert (linked.ref, linked.label, linked.tags) == (
        "demo.backup_all",
        "Back up all databases",
        ["backup"],
    )
    assert linked.definition["ref"] == "demo.backup_all"
    assert linked.definition["tags"] == ["backup"]
    # the action YAML's parameters win for the row, as written (flat form)
    assert linked.param_schema == {
        "databases": {
            "type": "array",
            "required": True,
            "description": "Names of the databases to dump",
        }
    }
    assert linked.entrypoint == "workflows/backup_all.yaml"
    assert linked.companion is None  # the action YAML defines the action
    assert linked.definition == emit(EXAMPLES / "demo" / linked.file_path, linked)


def test_standalone_columns_as_the_registrar_fills_them(tmp_path: Path) -> None:
    text = "version: '1.0'\nref: demo.ship\ndescription: D\ntags: [a]\nparameters: {type: object}\ntasks:\n  - {name: a, action: core.echo}\n"
    path = tmp_path / "ship.workflow.yaml"
    path.write_text(text)
    raw = text.encode()
    source = SourceFile(
        "demo", "workflows/ship.workflow.yaml", str(path), FileKind.WORKFLOW, raw, content_hash(raw)
    )
    parsed = parse_workflow(source, CATALOG)
    assert parsed.ok and parsed.definition == emit(path)
    # no label in the file: the row's label is the file name, the definition's ""
    assert (parsed.ref, parsed.label, parsed.definition["label"]) == ("demo.ship", "ship", "")
    assert (parsed.description, parsed.version, parsed.tags) == ("D", "1.0", ["a"])
    assert parsed.param_schema == {"type": "object"} and parsed.out_schema is None
    assert parsed.entrypoint == "workflows/ship.workflow.yaml"
    companion = parsed.companion
    assert companion is not None
    assert (companion.ref, companion.label, companion.description) == ("demo.ship", "ship", "D")
    assert companion.entrypoint == "workflows/ship.workflow.yaml"
    assert (companion.param_schema, companion.out_schema) == ({"type": "object"}, None)


HEAD = "version: '1.0'\nref: demo.flow\ntasks:\n"
TAIL = "  - {name: b, action: core.echo}\n  - {name: c, action: core.echo}\n"


def _task(body: str) -> str:
    return HEAD + "  - name: a\n    action: core.echo\n" + body + TAIL


# (legacy spelling only packsync accepts, Attune's native spelling of the same workflow)
LEGACY = [
    (
        "tasks as a map",
        HEAD + "  a: {action: core.echo, on_success: b}\n  b: {action: core.echo}\n",
        HEAD
        + "  - {name: a, action: core.echo, on_success: b}\n  - {name: b, action: core.echo}\n",
    ),
    (
        "vars as one-key maps",
        "version: '1'\nref: demo.flow\nvars:\n  - x: 1\n  - y\ntasks:\n  - {name: a, action: core.echo}\n",
        "version: '1'\nref: demo.flow\nvars: {x: 1, y: null}\ntasks:\n  - {name: a, action: core.echo}\n",
    ),
    (
        "on_success list",
        _task("    on_success: [b, c]\n"),
        _task("    next: [{when: '{{ succeeded() }}', do: [b, c]}]\n"),
    ),
    (
        "on_failure comma string",
        _task("    on_failure: 'b, c'\n"),
        _task("    next: [{when: '{{ failed() }}', do: [b, c]}]\n"),
    ),
    (
        "on_success {when, do}",
        _task("    on_success:\n      - when: '{{ result().ok }}'\n        do: b\n      - c\n"),
        _task(
            "    next:\n      - {when: '{{ succeeded() and (result().ok) }}', do: [b]}\n      - {when: '{{ succeeded() }}', do: [c]}\n"
        ),
    ),
    (
        "on_complete {when, do}",
        _task("    on_complete: [{when: 'workflow.x', do: b}]\n"),
        _task("    next: [{when: '{{ workflow.x }}', do: [b]}]\n"),
    ),
    (
        "hyphenated keys",
        _task(
            "    on-success: b\n    with-items: '{{ [1, 2] }}'\n    retry: {count: 2, delay: 1, max-delay: 4}\n"
        ),
        _task(
            "    on_success: b\n    with_items: '{{ [1, 2] }}'\n    retry: {count: 2, delay: 1, max_delay: 4}\n"
        ),
    ),
    (
        "publish as a mapping",
        _task(
            "    next: [{when: '{{ succeeded() }}', publish: {x: 1, y: '{{ result() }}'}, do: [b]}]\n"
        ),
        _task(
            "    next: [{when: '{{ succeeded() }}', publish: [{x: 1}, {y: '{{ result() }}'}], do: [b]}]\n"
        ),
    ),
    (
        "task publish mapping",
        _task("    publish: {x: 1}\n    on_failure: c\n    on_success: b\n"),
        _task("    publish: [{x: 1}]\n    on_success: b\n    on_failure: c\n"),
    ),
    ("do as a string", _task("    next: [{do: b}]\n"), _task("    next: [{do: [b]}]\n")),
    (
        "decision default name",
        _task("    decision:\n      - {when: '{{ workflow.x }}', next: b}\n      - {default: c}\n"),
        _task(
            "    decision:\n      - {when: '{{ workflow.x }}', next: b}\n      - {when: '{{ not ((workflow.x)) }}', next: c}\n"
        ),
    ),
    (
        "flat parameters",
        "version: '1'\nref: demo.flow\nparameters:\n  h: {type: string, required: true}\n  p: {type: integer, required: false}\ntasks:\n  - {name: a, action: core.echo}\n",
        "version: '1'\nref: demo.flow\nparameters: {type: object, properties: {h: {type: string}, p: {type: integer}}, required: [h]}\ntasks:\n  - {name: a, action: core.echo}\n",
    ),
    (
        "join all",
        HEAD
        + "  - {name: a, action: core.echo, next: [{do: [b, c]}]}\n  - {name: b, action: core.echo, on_success: d}\n  - {name: c, action: core.echo, on_success: d}\n  - {name: d, action: core.echo, join: all}\n",
        HEAD
        + "  - {name: a, action: core.echo, next: [{do: [b, c]}]}\n  - {name: b, action: core.echo, on_success: d}\n  - {name: c, action: core.echo, on_success: d}\n  - {name: d, action: core.echo, join: 2}\n",
    ),
    (
        "with_items list",
        _task("    with_items: [x, 2, \"it's\", '{{ parameters.n }}', [true, null]]\n"),
        _task("    with_items: \"{{ ['x', 2, 'it\\\\'s', (parameters.n), [true, null]] }}\"\n"),
    ),
    (
        "no ref",
        "version: '1'\ntasks:\n  - {name: a, action: core.echo}\n",
        "version: '1'\nref: demo.flow\ntasks:\n  - {name: a, action: core.echo}\n",
    ),
    (
        "enabled and name",
        "version: '1'\nref: demo.flow\nname: flow\nenabled: false\ntasks:\n  - {name: a, action: core.echo}\n",
        "version: '1'\nref: demo.flow\ntasks:\n  - {name: a, action: core.echo}\n",
    ),
    (
        "output_map as one-key maps",
        "version: '1'\nref: demo.flow\noutput_map:\n  - r: '{{ workflow.x }}'\n  - s: 5\ntasks:\n  - {name: a, action: core.echo}\n",
        "version: '1'\nref: demo.flow\noutput_map: {r: '{{ workflow.x }}', s: '5'}\ntasks:\n  - {name: a, action: core.echo}\n",
    ),
    (
        "nested legacy in parallel",
        HEAD
        + "  - name: p\n    type: parallel\n    tasks:\n      s1: {action: core.echo, on-success: s2}\n      s2: {action: core.echo}\n",
        HEAD
        + "  - name: p\n    type: parallel\n    tasks:\n      - {name: s1, action: core.echo, on_success: s2}\n      - {name: s2, action: core.echo}\n",
    ),
]


def _parse(path: Path, text: str) -> ParsedWorkflow:
    path.write_text(text)
    raw = text.encode()
    source = SourceFile(
        "demo", "workflows/flow.yaml", str(path), FileKind.WORKFLOW, raw, content_hash(raw)
    )
    return parse_workflow(source, CATALOG)


@pytest.mark.parametrize(("legacy", "native"), [c[1:] for c in LEGACY], ids=[c[0] for c in LEGACY])
def test_legacy_spelling_stores_the_native_form(tmp_path: Path, legacy: str, native: str) -> None:
    (tmp_path / "l").mkdir()
    (tmp_path / "n").mkdir()
    parsed = _parse(tmp_path / "l" / "flow.yaml", legacy)
    assert parsed.ok, [d.format() for d in parsed.diagnostics]
    native_path = tmp_path / "n" / "flow.yaml"
    native_path.write_text(native)
    ((_, status, message),) = check("load", str(native_path))
    assert status == "OK" and "ignored" not in message, message
    # truly a legacy spelling: Attune rejects it or silently drops part of it
    ((_, status, message),) = check("load", str(tmp_path / "l" / "flow.yaml"))
    assert status == "ERROR" or "ignored keys" in message, message
    assert parsed.definition == emit(native_path)
    assert stored_strict([parsed.definition or {}])[0][1] == "OK"


def test_legacy_spellings_batch_through_stored(tmp_path: Path) -> None:
    definitions = []
    for i, (_, legacy, _) in enumerate(LEGACY):
        (tmp_path / str(i)).mkdir()
        parsed = _parse(tmp_path / str(i) / "flow.yaml", legacy)
        assert parsed.definition is not None
        definitions.append(parsed.definition)
    assert [r[1] for r in stored_strict(definitions)] == ["OK"] * len(LEGACY)


def test_with_items_expressions_parse_in_attunes_grammar(tmp_path: Path) -> None:
    parsed = _parse(
        tmp_path / "flow.yaml", _task("    with_items: ['a\\b', \"q'\", -3, 1.5, [x]]\n")
    )
    assert parsed.ok and parsed.definition is not None
    expr = parsed.definition["tasks"][0]["with_items"]
    assert expr == "{{ ['a\\\\b', 'q\\'', -3, 1.5, ['x']] }}"
    assert check("expr", stdin=expr[3:-3] + "\n")[0][1] == "OK"


# What Attune cannot hold is an error, never stored in a form it cannot run.
UNSUPPORTED = [
    ("templated timeout", _task("    timeout: '{{ parameters.t }}'\n")),
    ("templated batch_size", _task("    with_items: '{{ x }}'\n    batch_size: '{{ n }}'\n")),
    ("fractional delay", _task("    retry: {count: 2, delay: 1.5}\n")),
    ("with_items with a mapping", _task("    with_items: [{a: 1}]\n")),
    ("with_items partial template", _task("    with_items: ['x-{{ y }}']\n")),
    ("engine command fail", _task("    on_failure: fail\n")),
    (
        "output_map mapping value",
        "version: '1'\nref: demo.flow\noutput_map: {r: {a: 1}}\ntasks:\n  - {name: a, action: core.echo}\n",
    ),
]


# Attune's loader refuses these too: the field's own check reports them (one cause,
# one diagnostic), so the code is that check's or attune-unsupported.
REFUSED = {"attune-unsupported", "invalid-value", "batch-size", "retry-delay", "unknown-task"}
UNSUPPORTED += [
    ("retry without delay", _task("    retry: {count: 3}\n")),
    ("retry integral float delay", _task("    retry: {count: 3, delay: 2.0}\n")),
    ("noop target", _task("    on_failure: noop\n    on_success: b\n")),
]


@pytest.mark.parametrize("text", [c[1] for c in UNSUPPORTED], ids=[c[0] for c in UNSUPPORTED])
def test_what_attune_cannot_hold_is_an_error(tmp_path: Path, text: str) -> None:
    parsed = _parse(tmp_path / "flow.yaml", text)
    errors = {d.code for d in parsed.diagnostics if d.severity.value == "error"}
    assert errors & REFUSED | ({"required"} & errors), [d.format() for d in parsed.diagnostics]
    assert not parsed.ok


def test_retry_needs_a_count(tmp_path: Path) -> None:
    parsed = _parse(tmp_path / "flow.yaml", _task("    retry: {delay: 2}\n"))
    assert "retry-count" in {d.code for d in parsed.diagnostics}
    assert not parsed.ok


def test_legacy_fields_beside_next_are_an_error(tmp_path: Path) -> None:
    """Attune drops on_success & co. when `next` is present: never silently."""
    text = _task("    on_failure: c\n    next: [{when: '{{ succeeded() }}', do: [b]}]\n")
    parsed = _parse(tmp_path / "flow.yaml", text)
    (diag,) = [d for d in parsed.diagnostics if d.code == "legacy-ignored"]
    assert diag.line == 6 and not parsed.ok
    # what Attune itself would store (the failure transition gone)
    assert parsed.definition == emit(tmp_path / "flow.yaml")


def test_stored_form_matches_packsyncs_json_schema(corpus: list[Case]) -> None:
    from jsonschema import Draft202012Validator

    from packsync.schema import workflow_json_schema

    validator = Draft202012Validator(workflow_json_schema())
    for case in corpus:
        if case.parsed.ok:
            errors = [e.message for e in validator.iter_errors(case.parsed.definition)]
            assert errors == [], case.label


def test_stored_form_revalidates_as_its_own_input(corpus: list[Case]) -> None:
    """A stored definition (nulls for absent options) is valid input again, and
    normalises to itself: the REST API reads it back on update."""
    from packsync.pipeline.parse import validate_definition

    for case in corpus:
        if not case.parsed.ok or case.parsed.action is not None:
            continue
        again = validate_definition(
            case.parsed.definition,
            pack_ref=case.parsed.pack_ref,
            ref=case.parsed.ref,
            display_path="api",
            catalog=CATALOG,
        )
        assert not has_errors(again.diagnostics), (
            case.label,
            [d.format() for d in again.diagnostics],
        )
        assert again.definition == case.parsed.definition, case.label


def test_editing_the_action_yaml_re_registers_its_linked_workflow(tmp_path: Path) -> None:
    import shutil

    from packsync.pipeline.load import pack_checksum

    shutil.copytree(EXAMPLES / "demo", tmp_path / "demo")
    scanned = scan_pack(tmp_path, "demo", max_file_size=1 << 20)
    assert scanned is not None
    before = {w.file_path: w for w in load_pack(scanned, CATALOG).workflows}
    known = {path: w.content_hash for path, w in before.items()}
    assert load_pack(scanned, CATALOG, known=known).workflows == []  # all unchanged
    action = tmp_path / "demo" / "actions" / "backup_all.yaml"
    action.write_text(action.read_text().replace("tags: [backup]", "tags: [backup, nightly]"))
    rescanned = scan_pack(tmp_path, "demo", max_file_size=1 << 20)
    assert rescanned is not None
    assert pack_checksum(rescanned) != pack_checksum(scanned)
    (changed,) = load_pack(rescanned, CATALOG, known=known).workflows
    assert changed.file_path == "actions/workflows/backup_all.yaml"
    assert changed.tags == ["backup", "nightly"]
    assert changed.content_hash != known[changed.file_path]


def test_a_native_default_decision_warns_that_attune_always_runs_it(tmp_path: Path) -> None:
    text = _task(
        "    decision:\n      - {when: '{{ workflow.x }}', next: b}\n      - {default: true, next: c}\n"
    )
    parsed = _parse(tmp_path / "flow.yaml", text)
    (diag,) = [d for d in parsed.diagnostics if d.code == "decision-default"]
    assert diag.severity.value == "warning" and diag.line == 8 and parsed.ok
    assert parsed.definition is not None
    assert parsed.definition["tasks"][0]["next"][1] == {"do": ["c"]}  # as Attune stores it


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("    next: [{when: '{{ succeeded() and result().ok }}', do: [b]}]\n", 6),
        ("    on_success:\n      - when: '{{ result().ok }}'\n        do: b\n", 7),
    ],
)
def test_a_condition_beside_an_outcome_warns(tmp_path: Path, body: str, line: int) -> None:
    """scheduler.rs fires on the outcome alone when `when` mentions succeeded():
    one warning, `condition-ignored` where the file says so, `outcome-condition`
    where a legacy spelling is stored that way."""
    parsed = _parse(tmp_path / "flow.yaml", _task(body))
    codes = ("condition-ignored", "outcome-condition")
    (diag,) = [d for d in parsed.diagnostics if d.code in codes]
    assert diag.line == line and parsed.ok
    plain = _parse(tmp_path / "flow.yaml", _task("    on_success: b\n    on_failure: c\n"))
    assert not {d.code for d in plain.diagnostics} & set(codes)
