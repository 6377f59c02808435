# ruff: noqa: E501
"""One case per template/parity diagnostic code: code, severity, and the exact
line and column of the offending token (found by searching the sample)."""

from __future__ import annotations

import pytest

from packsync.core.diagnostics import Severity
from packsync.pipeline.model import FileKind, SourceFile, StaticCatalog, content_hash
from packsync.pipeline.parse import parse_workflow

CATALOG = StaticCatalog({"core": {"core.echo", "core.noop"}})
E, W = Severity.ERROR, Severity.WARNING
HEAD = "version: '1.0'\ntasks:\n  - name: a\n    action: core.echo\n"


def run(text: str) -> list[tuple[str, Severity, int, int]]:
    data = text.encode()
    src = SourceFile(
        "demo", "workflows/flow.yaml", "flow.yaml", FileKind.WORKFLOW, data, content_hash(data)
    )
    result = parse_workflow(src, CATALOG)
    return [(d.code, d.severity, d.line, d.column) for d in result.diagnostics]


def at(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


# (code, severity, sample, the text the diagnostic must point at)
CASES = [
    ("template-syntax", E, HEAD + "    input: {x: '{{ hosts | length }}'}\n", "| length"),
    ("template-syntax", E, HEAD + "    input:\n      x: '{% if y %}a{% endif %}'\n", "{% if"),
    ("template-syntax", E, HEAD + "    input: {x: 'a {{ parameters.x'}\n", "{{ parameters"),
    ("template-syntax", E, HEAD + "    input: {x: 'a {{ }}'}\n", "{{ }}"),
    ("template-syntax", E, HEAD + "    input: {x: '<% $.x %>'}\n", "<% $"),
    ("template-syntax", E, HEAD + "    next:\n      - when: 'result().ok = 1'\n", "= 1"),
    ("unknown-function", E, HEAD + "    input: {x: '{{ uuid() }}'}\n", "uuid"),
    ("function-args", E, HEAD + "    input: {x: '{{ 1 + length() }}'}\n", "length"),
    ("unknown-variable", E, "version: '1'\nparameters:\n  type: object\n  properties: {host: {type: string}}\ntasks:\n  - name: a\n    action: core.echo\n    input: {x: 'ssh {{ host }}'}\n", "host }}"),
    ("unknown-variable", E, HEAD + "    input: {x: '{{ a.result }}'}\n", "a.result"),
    ("unknown-task-ref", E, HEAD + "    input: {x: '{{ task.nope.result }}'}\n", "nope"),
    ("unknown-task-ref", E, HEAD + "    input: {x: \"{{ tasks['nope'] }}\"}\n", "'nope'"),
    ("item-outside-with-items", E, HEAD + "    input: {x: '{{ item.name }}'}\n", "item"),
    ("item-outside-with-items", E, HEAD + "    with_items: '{{ index }}'\n", "index"),
    ("undefined-variable", W, HEAD + "    input: {x: '{{ workflow.nothing }}'}\n", "nothing"),
    ("undefined-variable", W, "version: '1'\nparameters:\n  type: object\n  properties: {host: {type: string}}\ntasks:\n  - name: a\n    action: core.echo\n    input: {x: '{{ parameters.hots }}'}\n", "hots"),
    ("field-length", E, "version: ''\ntasks:\n  - name: a\n    action: core.echo\n", "''"),
    ("field-length", E, "label: " + "x" * 256 + "\nversion: '1'\ntasks:\n  - name: a\n    action: core.echo\n", "xxx"),
    ("schema-type", E, "version: '1'\nparameters:\n  properties:\n    host: {type: string}\ntasks:\n  - name: a\n    action: core.echo\n", "properties"),
    ("required", E, HEAD + "    retry: {count: 2}\n", "{count"),
    ("retry-delay", E, HEAD + "    retry: {count: 2, delay: 1.5}\n", "1.5"),
    ("batch-size", E, HEAD + "    with_items: '{{ [1] }}'\n    batch_size: '{{ 2 }}'\n", "'{{ 2"),
    ("unreachable-task", E, HEAD + "  - name: c\n    action: core.echo\n    on_success: d\n  - name: d\n    action: core.echo\n    on_success: c\n", "c\n"),
    ("unknown-task", E, HEAD + "    on_success: noop\n", "noop"),
    ("template-in-vars", W, "version: '1'\nvars:\n  url: 'http://{{ parameters.host }}'\ntasks:\n  - name: a\n    action: core.echo\n", "'http"),
    ("condition-ignored", W, HEAD + "    next:\n      - when: '{{ not succeeded() }}'\n        do: [b]\n  - name: b\n    action: core.echo\n", "{{ not"),
    ("legacy-ignored", E, HEAD + "    next:\n      - do: [b]\n    on_failure: b\n  - name: b\n    action: core.echo\n", "b\n  - name"),
    ("orquesta-dialect", E, "version: 1.0\ninput:\n  - x\ntasks:\n  a:\n    action: core.echo\n    input: {m: <% ctx(x) %>}\n", "- x"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "severity", "text", "needle"), CASES, ids=[c[0] for c in CASES])
def test_code_at_token(code: str, severity: Severity, text: str, needle: str) -> None:
    diags = run(text)
    assert (code, severity, *at(text, needle)) in diags, diags
    assert len([d for d in diags if d[0] == code]) == 1, diags


def test_tokens_inside_block_and_quoted_scalars() -> None:
    text = (
        HEAD
        + "    input:\n"
        + "      block: |\n        first line\n        then {{ now() }}\n"
        + '      quoted: "a\\"b {{ uuid() }}"\n'
        + "      single: 'it''s {{ now() }}'\n"
    )
    found = run(text)
    lines = text.split("\n")
    block = next(i for i, line in enumerate(lines, 1) if "then {{" in line)
    assert ("unknown-function", E, block, lines[block - 1].index("now") + 1) in found
    quoted = next(i for i, line in enumerate(lines, 1) if "quoted:" in line)
    assert ("unknown-function", E, quoted, lines[quoted - 1].index("uuid") + 1) in found
    single = next(i for i, line in enumerate(lines, 1) if "single:" in line)
    assert ("unknown-function", E, single, lines[single - 1].index("now") + 1) in found


def test_valid_expressions_pass() -> None:
    text = (
        "version: '1'\nparameters:\n  type: object\n  properties: {xs: {type: array}}\n"
        "vars: {n: 0, my-var: 1}\ntasks:\n  - name: a\n    action: core.echo\n"
        "    with_items: '{{ parameters.xs }}'\n"
        "    input: {x: '{{ item.name ~ 1 }}'}\n"
    )
    assert [d[0] for d in run(text)] == ["template-syntax"]
    text = text.replace(" ~ 1", "")
    text += (
        "    next:\n      - when: length(result().rows) > n\n"
        "        publish: [{total: '{{ n + index }}', label: \"{{ workflow['my-var'] }}\"}]\n"
        "        do: [b]\n  - name: b\n    action: core.echo\n"
        "    input: {x: '{{ task.a.result.rows[0] }} {{ total }} {{ system.workflow_start }}'}\n"
    )
    assert run(text) == []


def test_one_cause_one_diagnostic() -> None:
    bad_schema = (
        "version: '1'\nparameters:\n  type: object\n  properties:\n"
        "    host: {type: strnig}\ntasks:\n  - name: a\n    action: core.echo\n"
    )
    assert [d[0] for d in run(bad_schema)] == ["invalid-json-schema"]
    typo = (
        HEAD + "    on_success: stpe2\n  - name: step2\n    action: core.echo\n"
        "    on_success: step3\n  - name: step3\n    action: core.echo\n"
    )
    assert [d[0] for d in run(typo)] == ["unknown-task"]
    unreachable_chain = (
        HEAD + "  - name: b\n    action: core.echo\n    on_success: c\n"
        "  - name: c\n    action: core.echo\n    on_success: b\n"
    )
    assert [d[0] for d in run(unreachable_chain)] == ["unreachable-task"]


def test_suggestions_are_plausible() -> None:
    text = HEAD.replace("tasks:", "output_schema: {type: object}\ntasks:")
    diags = parse_workflow(
        SourceFile("demo", "workflows/f.yaml", "f.yaml", FileKind.WORKFLOW, text.encode(), ""),
        CATALOG,
    ).diagnostics
    assert [d.code for d in diags] == ["unknown-key"]
    assert "did you mean 'output'?" in diags[0].message
