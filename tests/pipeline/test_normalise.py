# ruff: noqa: E501
"""Every legacy spelling of one workflow normalises to the same plain-JSON definition."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import (
    parse_action_meta,
    parse_pack_meta,
    parse_workflow,
    validate_definition,
)

CATALOG = StaticCatalog({"core": {"core.echo", "core.local"}})


def source(
    text: str, rel: str = "workflows/flow.yaml", kind: FileKind = FileKind.WORKFLOW
) -> SourceFile:
    data = text.encode()
    return SourceFile("demo", rel, f"packs/demo/{rel}", kind, data, content_hash(data))


MODERN = """
version: '1.0'
parameters:
  type: object
  properties:
    host: {type: string}
    port: {type: integer, default: 22}
  required: [host]
vars:
  attempts: 0
  seen: []
tasks:
  - name: a
    action: core.echo
    with_items: "{{ parameters.host }}"
    retry: {count: 2, delay: 1, max_delay: 10}
    permission_set_refs: [ops]
    input: {message: "{{ parameters.host }}"}
    next:
      - when: "{{ succeeded() }}"
        publish: {attempts: "{{ attempts + 1 }}"}
        do: [b]
      - when: "{{ failed() }}"
        do: [c]
  - name: b
    action: core.echo
  - name: c
    action: core.local
"""

LEGACY_MAP = """
version: '1.0'
parameters:
  host: {type: string, required: true}
  port: {type: integer, default: 22}
vars:
  - attempts: 0
  - seen: []
tasks:
  a:
    action: core.echo
    with-items: "{{ parameters.host }}"
    retry: {count: 2, delay: 1, max-delay: 10}
    permission_set_ref: [ops]
    input: {message: "{{ parameters.host }}"}
    publish: {attempts: "{{ attempts + 1 }}"}
    on-success: b
    on-failure: c
  b:
    action: core.echo
  c:
    name: c
    action: core.local
"""

LEGACY_LISTS = """
version: '1.0'
parameters:
  host: {type: string, required: true}
  port: {type: integer, default: 22, required: false}
vars:
  - attempts: 0
  - seen: []
tasks:
  - name: a
    action: core.echo
    with_items: "{{ parameters.host }}"
    retry: {count: 2, delay: 1, max_delay: 10}
    permission_set_refs: [ops]
    input: {message: "{{ parameters.host }}"}
    publish:
      - attempts: "{{ attempts + 1 }}"
    on_success: [b]
    on_failure: [c]
  - name: b
    action: core.echo
  - name: c
    action: core.local
"""

MIXED = """
version: '1.0'
parameters:
  type: object
  properties:
    host: {type: string}
    port: {type: integer, default: 22}
  required: [host]
vars: {attempts: 0, seen: []}
tasks:
  a:
    action: core.echo
    with_items: "{{ parameters.host }}"
    retry: {count: 2, delay: 1, max_delay: 10}
    permission-set-refs: [ops]
    input: {message: "{{ parameters.host }}"}
    next:
      - when: "{{ succeeded() }}"
        publish:
          - attempts: "{{ attempts + 1 }}"
        do: b
      - when: "{{ failed() }}"
        do: c
  b: {action: core.echo}
  c: {action: core.local}
"""

SPELLINGS = {
    "modern": MODERN,
    "legacy-map": LEGACY_MAP,
    "legacy-lists": LEGACY_LISTS,
    "mixed": MIXED,
}


def _definition(text: str) -> dict[str, Any]:
    result = parse_workflow(source(text), CATALOG)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.definition is not None
    return result.definition


def test_modern_definition_shape() -> None:
    d = _definition(MODERN)
    assert d["parameters"] == {
        "type": "object",
        "properties": {"host": {"type": "string"}, "port": {"type": "integer", "default": 22}},
        "required": ["host"],
    }
    assert d["vars"] == {"attempts": 0, "seen": []}
    a = d["tasks"][0]
    # Attune's RetryConfig: backoff and on_error are written out in the stored form
    assert a["retry"] == {
        "count": 2,
        "delay": 1,
        "backoff": "constant",
        "max_delay": 10,
        "on_error": None,
    }
    # publish is Attune's list of one-key maps; empty publish is left out
    assert a["next"] == [
        {"when": "{{ succeeded() }}", "publish": [{"attempts": "{{ attempts + 1 }}"}], "do": ["b"]},
        {"when": "{{ failed() }}", "do": ["c"]},
    ]
    assert [t["type"] for t in d["tasks"]] == ["action"] * 3
    assert d["tasks"][1]["action"] == "core.echo" and d["tasks"][1]["retry"] is None
    assert (d["ref"], d["label"], d["description"], d["output_map"]) == (
        "demo.flow",
        "",
        None,
        None,
    )


@pytest.mark.parametrize("name", [n for n in SPELLINGS if n != "modern"])
def test_every_spelling_normalises_to_the_same_definition(name: str) -> None:
    assert _definition(SPELLINGS[name]) == _definition(MODERN)


def _assert_plain(value: Any) -> None:
    if type(value) is dict:
        for k, v in value.items():
            assert type(k) is str
            _assert_plain(v)
    elif type(value) is list:
        for v in value:
            _assert_plain(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


@pytest.mark.parametrize("name", list(SPELLINGS))
def test_definition_is_plain_json(name: str) -> None:
    d = _definition(SPELLINGS[name])
    _assert_plain(d)
    assert json.loads(json.dumps(d)) == d


def test_schemas_with_a_type_are_stored_as_written() -> None:
    """Attune stores `parameters` verbatim when its validator accepts it (it has a
    `type`); only the flat form (no `type`) is turned into JSON Schema."""
    text = "version: '1'\nparameters:\n  type: object\n  properties:\n    h: {type: string, required: true}\ntasks:\n  - {name: a, action: core.echo}\n"
    r = parse_workflow(source(text), CATALOG)
    expected = {"type": "object", "properties": {"h": {"type": "string", "required": True}}}
    assert r.definition is not None and r.definition["parameters"] == expected
    assert r.param_schema == expected


def test_outcome_conditions() -> None:
    text = """
version: '1.0'
tasks:
  - name: a
    action: core.echo
    on_success:
      - when: "{{ result().code == 0 }}"
        do: b
      - c
    on_complete: d
    on_timeout: [e]
  - {name: b, action: core.echo}
  - {name: c, action: core.echo}
  - {name: d, action: core.echo}
  - {name: e, action: core.echo}
"""
    nxt = _definition(text)["tasks"][0]["next"]
    # Attune's order (success, failure, complete, timeout); on_complete has no `when`
    assert nxt == [
        {"when": "{{ succeeded() and (result().code == 0) }}", "do": ["b"]},
        {"when": "{{ succeeded() }}", "do": ["c"]},
        {"do": ["d"]},
        {"when": "{{ timed_out() }}", "do": ["e"]},
    ]


def test_decision_normalisation() -> None:
    text = """
version: '1.0'
vars: {x: 0, y: 0}
tasks:
  - name: a
    action: core.echo
    decision:
      - when: "{{ x > 1 }}"
        next: b
      - when: "y"
        next: c
      - default: d
  - {name: b, action: core.echo}
  - {name: c, action: core.echo}
  - {name: d, action: core.echo}
"""
    # as Attune folds decisions, each branch keeps its own `when`; packsync's
    # `{default: d}` is an "else" over the other branches
    assert _definition(text)["tasks"][0]["next"] == [
        {"when": "{{ x > 1 }}", "do": ["b"]},
        {"when": "y", "do": ["c"]},
        {"when": "{{ not ((x > 1) or (y)) }}", "do": ["d"]},
    ]


def test_parallel_subtasks_are_normalised() -> None:
    text = """
version: '1.0'
tasks:
  p:
    type: parallel
    tasks:
      s1: {action: core.echo, on-success: s2}
      s2: {action: core.echo}
"""
    p = _definition(text)["tasks"][0]
    assert p["type"] == "parallel"
    assert [s["name"] for s in p["tasks"]] == ["s1", "s2"]
    assert p["tasks"][0]["next"][0]["do"] == ["s2"]


def test_aliases_are_expanded_into_independent_copies() -> None:
    text = """
version: '1.0'
tasks:
  - name: a
    action: core.echo
    input: &shared {message: hi, opts: {n: 1}}
  - name: b
    action: core.echo
    input:
      <<: *shared
      message: bye
"""
    tasks = _definition(text)["tasks"]
    assert tasks[0]["input"] == {"message": "hi", "opts": {"n": 1}}
    assert tasks[1]["input"] == {"message": "bye", "opts": {"n": 1}}
    assert tasks[0]["input"]["opts"] is not tasks[1]["input"]["opts"]


def test_numeric_version_keeps_its_spelling() -> None:
    result = parse_workflow(
        source("version: 1.10\ntasks:\n  - {name: a, action: core.echo}\n"), CATALOG
    )
    assert result.version == "1.10"
    assert result.ok  # a warning only


def test_result_fields() -> None:
    text = "version: '2'\nlabel: L\ndescription: D\ntags: [x, y]\nenabled: false\noutput: {type: object}\ntasks:\n  - {name: a, action: core.echo}\n"
    r = parse_workflow(source(text), CATALOG)
    assert (r.label, r.description, r.version, r.tags, r.enabled) == (
        "L",
        "D",
        "2",
        ["x", "y"],
        False,
    )
    assert r.out_schema == {"type": "object"}
    assert r.ref == "demo.flow" and r.pack_ref == "demo" and r.file_path == "workflows/flow.yaml"


def test_workflow_stem_drops_workflow_suffix() -> None:
    text = "version: '1'\nref: demo.ship\ntasks:\n  - {name: a, action: core.echo}\n"
    assert parse_workflow(source(text, "workflows/ship.workflow.yaml"), CATALOG).ok


def test_api_validation_matches_file_validation() -> None:
    data = yaml.safe_load(LEGACY_MAP)
    api = validate_definition(
        data, pack_ref="demo", ref="demo.flow", display_path="api:demo.flow", catalog=CATALOG
    )
    assert api.ok
    assert api.definition == _definition(MODERN)
    assert api.content_hash


def test_api_diagnostics_use_json_paths() -> None:
    data = {"version": "1", "tasks": [{"name": "a", "action": "core.echo", "on_sucess": "b"}]}
    api = validate_definition(
        data, pack_ref="demo", ref="demo.flow", display_path="api:demo.flow", catalog=CATALOG
    )
    (diag,) = [d for d in api.diagnostics if d.code == "unknown-key"]
    assert (diag.line, diag.column, diag.file) == (0, 0, "api:demo.flow")
    assert diag.json_path == "$.tasks[0].on_sucess"
    assert not api.ok


def test_api_rejects_bad_pack_ref_and_ref() -> None:
    data = {"version": "1", "ref": "demo.other", "tasks": [{"name": "a", "action": "core.echo"}]}
    api = validate_definition(
        data, pack_ref="Bad", ref="demo.flow", display_path="api", catalog=CATALOG
    )
    assert {"pack-ref-format", "ref-mismatch"} <= {d.code for d in api.diagnostics}


def test_pack_meta_extras_go_to_meta() -> None:
    text = "name: demo\nlabel: Demo\nversion: 1.2.3\ndescription: d\nauthor: me\nconfig: {a: 1}\ntags: [x]\ndependencies: [core]\n"
    meta, diags = parse_pack_meta(source(text, "pack.yaml", FileKind.PACK))
    assert diags == []
    assert meta is not None
    assert (meta.ref, meta.label, meta.version, meta.description) == ("demo", "Demo", "1.2.3", "d")
    assert meta.meta == {"author": "me", "config": {"a": 1}}
    assert (meta.tags, meta.dependencies) == (["x"], ["core"])


def test_action_meta_ref() -> None:
    meta, diags = parse_action_meta(
        source(
            "name: restart\nrunner_type: shell\nentry_point: x.sh\n",
            "actions/restart.yaml",
            FileKind.ACTION,
        )
    )
    assert diags == [] and meta is not None
    assert (meta.ref, meta.file_path) == ("demo.restart", "actions/restart.yaml")
    meta, _ = parse_action_meta(source("ref: demo.other\n", "actions/x.yaml", FileKind.ACTION))
    assert meta is not None and meta.ref == "demo.other"


# (legacy spelling, the modern spelling it must equal)
PAIRS = [
    (
        "on_success: [{when: '{{ x }}', do: b}]",
        "next: [{when: '{{ succeeded() and (x) }}', do: [b]}]",
    ),
    ("on-failure: b", "next: [{when: '{{ failed() }}', do: [b]}]"),
    ("on_complete: [b]", "next: [{do: b}]"),
    ("on_timeout: b", "next: [{when: '{{ timed_out() }}', do: 'b'}]"),
    ("on_success: [b, c]", "next: [{when: '{{ succeeded() }}', do: 'b, c'}]"),
    ("on_success: b\n    on_failure: c", "on_failure: c\n    on_success: b"),
    (
        "decision: [{when: '{{ x }}', next: b}, {default: true, next: c}]",
        "next: [{when: '{{ x }}', do: [b]}, {do: [c]}]",
    ),
    ("publish: [{y: 1}]", "next: [{when: '{{ succeeded() }}', publish: {y: 1}}]"),
    ("permission_set_ref: ops", "permission-set-refs: ops"),
    (
        "publish: {y: 1}\n    on_failure: c",
        "next: [{when: '{{ failed() }}', publish: [{y: 1}], do: [c]}]",
    ),
]


@pytest.mark.parametrize(("legacy", "modern"), PAIRS)
def test_legacy_and_modern_pairs(legacy: str, modern: str) -> None:
    def doc(transitions: str) -> str:
        return f"version: '1'\nvars: {{x: 1}}\ntasks:\n  - name: a\n    action: core.echo\n    {transitions}\n  - {{name: b, action: core.echo}}\n  - {{name: c, action: core.echo}}\n"

    assert _definition(doc(legacy)) == _definition(doc(modern))


def test_normalised_definition_revalidates_cleanly() -> None:
    """The stored form is itself valid input (the REST API re-validates it on update)."""
    from packsync.pipeline.model import SourceFile, StaticCatalog, content_hash
    from packsync.pipeline.parse import parse_workflow, validate_definition

    text = (
        b'version: "1.0"\ntasks:\n  a:\n    action: core.noop\n    on-success: b\n'
        b"    on_failure: [c]\n  b:\n    action: core.noop\n    next:\n      - do: [c]\n"
        b"  c:\n    action: core.noop\n"
    )
    source = SourceFile("demo", "workflows/x.yaml", "x.yaml", "workflow", text, content_hash(text))
    catalog = StaticCatalog({"core": {"core.noop"}})
    parsed = parse_workflow(source, catalog)
    assert parsed.ok and parsed.definition is not None
    again = validate_definition(
        parsed.definition, pack_ref="demo", ref="demo.x", display_path="x", catalog=catalog
    )
    assert [d.format() for d in again.diagnostics] == []
    assert again.definition == parsed.definition
