# ruff: noqa: E501
"""One case per diagnostic code: the code, its severity and the exact line of
the offending node (the line marked `#!` in the sample)."""

from __future__ import annotations

import pytest

from packsync.core.diagnostics import Severity
from packsync.pipeline import parse as parse_mod
from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import (
    parse_action_meta,
    parse_pack_meta,
    parse_workflow,
    validate_definition,
)

CATALOG = StaticCatalog(
    {"core": {"core.echo", "core.local"}, "demo": {"demo.deploy", "demo.other", "demo.flow"}}
)
E, W = Severity.ERROR, Severity.WARNING


def source(
    text: str | bytes, rel: str = "workflows/flow.yaml", kind: FileKind = FileKind.WORKFLOW
) -> SourceFile:
    data = text.encode() if isinstance(text, str) else text
    return SourceFile("demo", rel, f"packs/demo/{rel}", kind, data, content_hash(data))


def marked_line(text: str | bytes) -> int:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for number, line in enumerate(raw.splitlines(), 1):
        if "#!" in line:
            return number
    raise AssertionError("sample has no #! marker")


HEAD = "version: '1.0'\ntasks:\n"

WORKFLOW_CASES: list[tuple[str, Severity, str | bytes]] = [
    ("yaml-syntax", E, HEAD + "  - name: a\n    action: core.echo\n    input: {x: [1, 2}  #!\n"),
    ("duplicate-key", E, HEAD + "  - name: a\n    action: core.echo\n    action: core.local  #!\n"),
    ("duplicate-key", E, HEAD + "  - name: a\n    action: core.echo\n    on_success: b\n    on-success: b  #!\n  - name: b\n    action: core.echo\n"),
    ("yaml-tag", E, HEAD + "  - name: a\n    action: !!python/name:os.system core.echo  #!\n"),
    ("yaml-alias-limit", E, "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]  #!\n"),
    ("yaml-recursive-alias", E, "version: '1.0'\ntasks: &t\n  - *t  #!\n"),
    ("yaml-too-deep", E, "version: '1.0'\n" + "x: " + "[" * 150 + "]" * 150 + "  #!\n"),
    ("yaml-complex-key", E, HEAD + "  - name: a\n    action: core.echo\n    ? [x, y]  #!\n    : 1\n"),
    ("yaml-value", E, HEAD + "  - name: a\n    action: core.echo\n    input: {x: .nan}  #!\n"),
    ("yaml-multiple-documents", E, HEAD + "  - name: a\n    action: core.echo\n---  #!\nb: 1\n"),
    ("binary-file", E, b"version: '1.0'\ntasks: \x00  #!\n"),
    ("encoding", E, b"version: '1.0'\ndescription: caf\xe9  #!\ntasks: []\n"),
    ("empty-file", E, "#!  only a comment\n"),
    ("not-a-mapping", E, "- a  #!\n- b\n"),
    ("unknown-key", E, HEAD + "  - name: a\n    action: core.echo\n    on_sucess: b  #!\n  - name: b\n    action: core.echo\n"),
    ("unknown-key", E, HEAD + "  - name: a\n    action: core.echo\n    next:\n      - when: '{{ succeeded() }}'\n        doo: b  #!\n"),
    ("unknown-key", E, HEAD + "  - name: a\n    action: core.echo\n    retry:\n      count: 2\n      dealy: 3  #!\n"),
    ("wrong-type", E, HEAD + "  - name: a\n    action: core.echo\n    input: [1, 2]  #!\n"),
    ("invalid-value", E, HEAD + "  - name: a\n    action: core.echo\n    type: sequential  #!\n"),
    ("invalid-value", E, "version: '1.0'\ncancellation_policy: stop  #!\ntasks:\n  - name: a\n    action: core.echo\n"),
    ("required", E, "tasks:  #!\n  - name: a\n    action: core.echo\n"),
    ("required", E, HEAD + "  - action: core.echo  #!\n"),
    ("version-type", W, "version: 1.0  #!\ntasks:\n  - name: a\n    action: core.echo\n"),
    ("no-tasks", E, "version: '1.0'\ntasks: []  #!\n"),
    ("retry-count", E, HEAD + "  - name: a\n    action: core.echo\n    retry:\n      count: 101  #!\n"),
    ("retry-delay", E, HEAD + "  - name: a\n    action: core.echo\n    retry:\n      count: 1\n      delay: -1  #!\n"),
    ("retry-backoff", E, HEAD + "  - name: a\n    action: core.echo\n    retry:\n      count: 1\n      backoff: random  #!\n"),
    ("retry-max-delay", E, HEAD + "  - name: a\n    action: core.echo\n    retry:\n      count: 1\n      delay: 10\n      max_delay: 5  #!\n"),
    (
        "retry-on-error",
        E,
        HEAD + "  - name: a\n    action: core.echo\n    retry:\n      count: 1\n      on_error: [x]  #!\n",
    ),
    ("batch-size", E, HEAD + "  - name: a\n    action: core.echo\n    with_items: [1]\n    batch_size: 0  #!\n"),
    ("concurrency", E, HEAD + "  - name: a\n    action: core.echo\n    with_items: [1]\n    concurrency: 101  #!\n"),
    ("join-invalid", E, HEAD + "  - name: a\n    action: core.echo\n    join: some  #!\n"),
    ("duplicate-variable", E, "version: '1.0'\nvars:\n  - x: 1\n  - x: 2  #!\n" + "tasks:\n  - name: a\n    action: core.echo\n"),
    ("name-mismatch", E, "version: '1.0'\ntasks:\n  a:\n    name: b  #!\n    action: core.echo\n"),
    ("legacy-when", E, HEAD + "  - name: a\n    action: core.echo\n    on_success:\n      - when: 'x {{ y }} z'  #!\n        do: b\n  - name: b\n    action: core.echo\n"),
    ("ref-mismatch", E, "version: '1.0'\nref: demo.other  #!\ntasks:\n  - name: a\n    action: core.echo\n"),
    ("duplicate-task", E, HEAD + "  - name: a\n    action: core.echo\n  - name: a  #!\n    action: core.echo\n"),
    ("reserved-task-name", E, HEAD + "  - name: vars  #!\n    action: core.echo\n"),
    ("unknown-task", E, HEAD + "  - name: step2\n    action: core.echo\n    next:\n      - do: [stpe3]  #!\n  - name: step3\n    action: core.echo\n"),
    ("unreachable-task", E, HEAD + "  - name: a\n    action: core.echo\n  - name: c  #!\n    action: core.echo\n    on_success: d\n  - name: d\n    action: core.echo\n    on_success: c\n    on_failure: c\n"),
    ("no-entry-task", E, HEAD + "  - name: a  #!\n    action: core.echo\n    on_success: b\n  - name: b\n    action: core.echo\n    on_success: a\n"),
    ("join-count", E, HEAD + "  - name: a\n    action: core.echo\n    on_success: b\n  - name: b\n    action: core.echo\n    join: 2  #!\n"),
    ("parallel-no-tasks", E, HEAD + "  - name: p\n    type: parallel  #!\n"),
    ("parallel-rules", E, HEAD + "  - name: p\n    type: parallel\n    action: core.echo  #!\n    tasks:\n      - name: s\n        action: core.echo\n"),
    ("missing-action", E, HEAD + "  - name: a  #!\n    input: {x: 1}\n"),
    ("action-format", E, HEAD + "  - name: a\n    action: Core/echo  #!\n"),
    ("unknown-action", E, HEAD + "  - name: a\n    action: core.ech  #!\n"),
    ("unknown-pack", W, HEAD + "  - name: a\n    action: slack.post  #!\n"),
    ("with-items", E, HEAD + "  - name: a\n    action: core.echo\n    with_items: hosts  #!\n"),
    ("with-items", W, HEAD + "  - name: a\n    action: core.echo\n    concurrency: 2  #!\n"),
    ("variable-name", E, "version: '1.0'\nvars:\n  my var: 1  #!\ntasks:\n  - name: a\n    action: core.echo\n"),
    ("invalid-json-schema", E, "version: '1.0'\nparameters:\n  host:\n    type: strnig  #!\ntasks:\n  - name: a\n    action: core.echo\n"),
    ("invalid-json-schema", E, "version: '1.0'\noutput:\n  type: object\n  properties:\n    x: {minimum: high}  #!\ntasks:\n  - name: a\n    action: core.echo\n"),
    ("template-syntax", E, HEAD + "  - name: a\n    action: core.echo\n    input: {x: '{{ foo( }}'}  #!\n"),
    ("undefined-variable", W, HEAD + "  - name: a\n    action: core.echo\n    input: {x: '{{ workflow.hots }}'}  #!\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "severity", "text"), WORKFLOW_CASES, ids=[c[0] for c in WORKFLOW_CASES]
)
def test_workflow_code(code: str, severity: Severity, text: str | bytes) -> None:
    result = parse_workflow(source(text), CATALOG)
    hits = [d for d in result.diagnostics if d.code == code]
    assert hits, [d.format() for d in result.diagnostics]
    assert hits[0].severity is severity
    assert hits[0].line == marked_line(text), hits[0].format()
    assert hits[0].column >= 1
    assert hits[0].file == "packs/demo/workflows/flow.yaml"
    assert hits[0].message
    assert result.ok is (
        not any(d.is_error for d in result.diagnostics) and result.definition is not None
    )


def test_messages_suggest_fixes() -> None:
    text = (
        HEAD
        + "  - name: step2\n    action: core.echo\n    on_sucess: step3\n    next:\n      - do: stpe3\n  - name: step3\n    action: core.ech\n"
    )
    msgs = {d.code: d.message for d in parse_workflow(source(text), CATALOG).diagnostics}
    assert "did you mean 'on_success'" in msgs["unknown-key"]
    assert "did you mean 'step3'" in msgs["unknown-task"]
    assert "did you mean 'core.echo'" in msgs["unknown-action"]


def test_chart_meta_allowed_on_tasks_and_transitions() -> None:
    text = (
        HEAD
        + "  - name: a\n    action: core.echo\n    __chart_meta__: {x: 1, anything: [1, {y: 2}]}\n    next:\n      - do: b\n        __chart_meta__: {label: ok}\n  - name: b\n    action: core.echo\n"
    )
    result = parse_workflow(source(text), CATALOG)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.definition is not None
    assert result.definition["tasks"][0]["__chart_meta__"] == {"x": 1, "anything": [1, {"y": 2}]}
    assert result.definition["tasks"][0]["next"][0]["__chart_meta__"] == {"label": "ok"}


def test_cycles_are_allowed() -> None:
    text = (
        HEAD
        + "  - name: start\n    action: core.echo\n    on_success: poll\n  - name: poll\n    action: core.echo\n    on_failure: poll\n    on_success: done\n  - name: done\n    action: core.echo\n"
    )
    result = parse_workflow(source(text), CATALOG)
    assert result.ok, [d.format() for d in result.diagnostics]


def test_workflow_refs_count_as_actions() -> None:
    text = HEAD + "  - name: a\n    type: workflow\n    action: demo.flow\n"
    assert parse_workflow(source(text), CATALOG).ok


PACK_CASES: list[tuple[str, Severity, str]] = [
    ("pack-ref-mismatch", E, "ref: other  #!\nversion: 1.0.0\n"),
    ("pack-ref-format", E, "ref: Demo_Pack  #!\n"),
    ("pack-version", W, "ref: demo\nversion: '1.0'  #!\n"),
    ("required", E, "label: no ref  #!\n"),
    ("wrong-type", E, "ref: demo\nlabel: [a, b]  #!\n"),
    ("yaml-syntax", E, "ref: demo\nlabel: 'unterminated  #!\n"),
]


@pytest.mark.parametrize(("code", "severity", "text"), PACK_CASES, ids=[c[0] for c in PACK_CASES])
def test_pack_code(code: str, severity: Severity, text: str) -> None:
    meta, diags = parse_pack_meta(source(text, "pack.yaml", FileKind.PACK))
    hits = [d for d in diags if d.code == code]
    assert hits, [d.format() for d in diags]
    assert hits[0].severity is severity
    assert hits[0].line == marked_line(text)
    assert (meta is None) is (severity is E)


def test_action_requires_name() -> None:
    meta, diags = parse_action_meta(
        source("runner_type: shell  #!\n", "actions/x.yaml", FileKind.ACTION)
    )
    assert meta is None
    assert [(d.code, d.line) for d in diags] == [("required", 1)]


def test_api_invalid_data() -> None:
    result = validate_definition(
        {"version": "1.0", "tasks": [{1, 2}]},
        pack_ref="demo",
        ref="demo.x",
        display_path="api:demo.x",
        catalog=CATALOG,
    )
    assert [d.code for d in result.diagnostics] == ["invalid-data"]
    assert not result.ok


def test_internal_error_is_a_diagnostic(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(parse_mod, "check_graph", boom)
    result = parse_workflow(source(HEAD + "  - name: a\n    action: core.echo\n"), CATALOG)
    assert [d.code for d in result.diagnostics] == ["internal-error"]
    assert not result.ok


def test_namespace_attributes_are_checked() -> None:
    text = "version: '1.0'\nparameters:\n  host: {type: string}\nvars:\n  count: 0\ntasks:\n  - name: a\n    action: core.echo\n    input:\n      x: '{{ parameters.hots }}'\n      y: \"{{ vars['count'] }} {{ parameters.host }}\"\n"
    diags = parse_workflow(source(text), CATALOG).diagnostics
    assert [(d.code, d.line) for d in diags] == [("undefined-variable", 10)]
    assert "parameters.hots" in diags[0].message and "did you mean 'host'" in diags[0].message


def test_templates_are_checked_under_nested_description_keys_but_not_chart_meta() -> None:
    text = (
        HEAD
        + "  - name: a\n    action: core.echo\n    input:\n      description: '{{ oops( }}'\n    __chart_meta__: {note: '{{ also( }}'}\n"
    )
    diags = parse_workflow(source(text), CATALOG).diagnostics
    assert [(d.code, d.line) for d in diags] == [("template-syntax", 6)]


def test_a_missing_task_name_is_reported_once() -> None:
    diags = parse_workflow(source(HEAD + "  - action: core.echo\n"), CATALOG).diagnostics
    assert [d.code for d in diags] == ["required"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "version: '1.0'\ninput: [host]\ntasks:\n  - {name: a, action: core.echo}\n",
            "under 'parameters'",
        ),
        (HEAD + "  - name: a\n    action: core.echo\n    with: {items: x}\n", "use 'with_items'"),
        (HEAD + "  - name: a\n    action: core.echo\n    parameters: {x: 1}\n", "under 'input'"),
    ],
)
def test_hints_for_neighbouring_formats(text: str, needle: str) -> None:
    (diag,) = [
        d for d in parse_workflow(source(text), CATALOG).diagnostics if d.code == "unknown-key"
    ]
    assert needle in diag.message


@pytest.mark.parametrize("value", ["true", "null", "[1]", "{a: 1}"])
def test_version_must_be_a_string_or_number(value: str) -> None:
    result = parse_workflow(
        source(f"version: {value}\ntasks:\n  - {{name: a, action: core.echo}}\n"), CATALOG
    )
    assert [(d.code, d.line) for d in result.diagnostics] == [("wrong-type", 1)]
    assert result.version is None and not result.ok


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_api_rejects_strings_jsonb_cannot_store(bad: str) -> None:
    data = {"version": "1", "tasks": [{"name": "a", "action": "core.echo", "input": {"x": bad}}]}
    result = validate_definition(
        data, pack_ref="demo", ref="demo.x", display_path="api", catalog=CATALOG
    )
    assert [d.code for d in result.diagnostics] == ["invalid-data"]
    assert "$.tasks[0].input.x" in result.diagnostics[0].message


def test_odd_parameter_names_are_accepted() -> None:
    text = "version: '1.0'\nparameters:\n  my-param: {type: string}  #!\ntasks:\n  - name: a\n    action: core.echo\n    input: {x: \"{{ parameters['my-param'] }}\"}\n"
    result = parse_workflow(source(text), CATALOG)
    assert result.diagnostics == []  # Attune does not check parameter names
