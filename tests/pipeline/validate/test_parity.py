# ruff: noqa: E501
"""Parity with Attune's loader, one small workflow per check.

Each row: the file, the verdict of `attune-check load` (recorded here, and
re-checked against the kit when it is present), the first error packsync
reports (`code@line`, None = no error) and why they may differ:

- parity: packsync rejects exactly what Attune rejects;
- legacy: a spelling SPEC §3 accepts on purpose (Attune's serde refuses it);
  packsync normalises it into Attune's form (docs/diagnostics.md lists them);
- spec:   SPEC §2 (a standalone file's ref defaults to `<pack>.<file stem>`);
- strict: packsync is stricter on purpose (docs/diagnostics.md says why).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from packsync.pipeline.check import check_targets
from tests.support.attune_kit import check_load, requires_kit

T = "  - name: a\n    action: core.echo\n"
B = "  - name: b\n    action: core.echo\n"
H = "ref: demo.{id}\nlabel: Case\nversion: '1.0'\n"
HT = H + "tasks:\n"

CASES: list[tuple[str, str, bool, str | None, str]] = [
    ("version_missing", "ref: demo.{id}\nlabel: Case\ntasks:\n" + T, False, 'required@1', "parity"),
    ("version_empty", "ref: demo.{id}\nlabel: Case\nversion: ''\ntasks:\n" + T, False, 'field-length@3', "parity"),
    ("version_long", "ref: demo.{id}\nlabel: Case\nversion: '" + "1" * 51 + "'\ntasks:\n" + T, False, 'field-length@3', "parity"),
    ("version_50", "ref: demo.{id}\nlabel: Case\nversion: '" + "1" * 50 + "'\ntasks:\n" + T, True, None, "parity"),
    ("version_number", "ref: demo.{id}\nlabel: Case\nversion: 1.0\ntasks:\n" + T, True, None, "parity"),
    ("version_int", "ref: demo.{id}\nlabel: Case\nversion: 2\ntasks:\n" + T, True, None, "parity"),
    ("ref_missing", "label: Case\nversion: '1.0'\ntasks:\n" + T, False, None, "spec"),
    ("ref_long", "ref: demo." + "x" * 251 + "\nlabel: Case\nversion: '1.0'\ntasks:\n" + T, False, 'field-length@1', "parity"),
    ("label_long", "ref: demo.{id}\nlabel: " + "x" * 256 + "\nversion: '1.0'\ntasks:\n" + T, False, 'field-length@2', "parity"),
    ("label_int", "ref: demo.{id}\nlabel: 5\nversion: '1.0'\ntasks:\n" + T, True, 'invalid-value@2', "strict"),
    ("description_int", H + "description: 5\ntasks:\n" + T, True, 'invalid-value@4', "strict"),
    ("tasks_missing", H, False, 'required@1', "parity"),
    ("tasks_empty", H + "tasks: []\n", False, 'no-tasks@4', "parity"),
    ("tasks_map", H + "tasks:\n  a:\n    action: core.echo\n", False, None, "legacy"),
    ("task_name_missing", HT + "  - action: core.echo\n", False, 'required@5', "parity"),
    ("task_name_empty", HT + "  - name: ''\n    action: core.echo\n", True, 'required@5', "strict"),
    ("task_name_long", HT + "  - name: " + "n" * 256 + "\n    action: core.echo\n", True, None, "parity"),
    ("type_bad", HT + T + "    type: sequential\n", False, 'invalid-value@7', "parity"),
    ("action_missing", HT + "  - name: a\n", False, 'missing-action@5', "parity"),
    ("workflow_no_action", HT + "  - name: a\n    type: workflow\n", False, 'missing-action@5', "parity"),
    ("parallel_no_tasks", HT + "  - name: a\n    type: parallel\n", False, 'parallel-no-tasks@6', "parity"),
    ("parallel_empty", HT + "  - name: a\n    type: parallel\n    tasks: []\n", False, 'parallel-no-tasks@6', "parity"),
    ("input_list", HT + T + "    input: [1]\n", False, 'wrong-type@7', "parity"),
    ("when_bool", HT + T + "    when: true\n", True, 'wrong-type@7', "strict"),
    ("with_items_list", HT + T + "    with_items: [1, 2]\n", False, None, "legacy"),
    ("with_items_template", HT + T + "    with_items: '{{ parameters.xs }}'\n", True, None, "parity"),
    ("batch_zero", HT + T + "    with_items: '{{ [1] }}'\n    batch_size: 0\n", False, 'batch-size@8', "parity"),
    ("batch_zero_no_items", HT + T + "    batch_size: 0\n", True, None, "parity"),
    ("batch_negative", HT + T + "    with_items: '{{ [1] }}'\n    batch_size: -1\n", False, 'batch-size@8', "parity"),
    ("batch_template", HT + T + "    with_items: '{{ [1] }}'\n    batch_size: '{{ 2 }}'\n", False, 'batch-size@8', "parity"),
    ("concurrency_zero", HT + T + "    with_items: '{{ [1] }}'\n    concurrency: 0\n", False, 'concurrency@8', "parity"),
    ("concurrency_big", HT + T + "    with_items: '{{ [1] }}'\n    concurrency: 500\n", True, 'concurrency@8', "strict"),
    ("retry_no_count", HT + T + "    retry: {delay: 1}\n", False, 'required@7', "parity"),
    ("retry_no_delay", HT + T + "    retry: {count: 1}\n", False, 'required@7', "parity"),
    ("retry_ok", HT + T + "    retry: {count: 1, delay: 0}\n", True, None, "parity"),
    ("retry_delay_float", HT + T + "    retry: {count: 1, delay: 1.5}\n", False, 'retry-delay@7', "parity"),
    ("retry_delay_negative", HT + T + "    retry: {count: 1, delay: -1}\n", False, 'retry-delay@7', "parity"),
    ("retry_count_zero", HT + T + "    retry: {count: 0, delay: 1}\n", False, 'retry-count@7', "parity"),
    ("retry_count_101", HT + T + "    retry: {count: 101, delay: 1}\n", False, 'retry-count@7', "parity"),
    ("retry_max_delay_lt", HT + T + "    retry: {count: 1, delay: 5, max_delay: 2}\n", False, 'retry-max-delay@7', "parity"),
    ("retry_backoff_bad", HT + T + "    retry: {count: 1, delay: 1, backoff: random}\n", False, 'retry-backoff@7', "parity"),
    ("retry_on_error_list", HT + T + "    retry: {count: 1, delay: 1, on_error: [x]}\n", False, 'retry-on-error@7', "parity"),
    ("retry_string", HT + T + "    retry: 3\n", False, 'invalid-value@7', "parity"),
    ("timeout_zero", HT + T + "    timeout: 0\n", True, 'invalid-value@7', "strict"),
    ("timeout_negative", HT + T + "    timeout: -5\n", False, 'invalid-value@7', "parity"),
    ("timeout_template", HT + T + "    timeout: '{{ 5 }}'\n", False, 'invalid-value@7', "parity"),
    ("next_map", HT + T + "    next: {do: [b]}\n" + B, False, 'wrong-type@7', "parity"),
    ("next_do_string", HT + T + "    next:\n      - do: b\n" + B, False, None, "legacy"),
    ("next_unknown_target", HT + T + "    next:\n      - do: [c]\n" + B, False, 'unknown-task@8', "parity"),
    ("next_engine_target", HT + T + "    next:\n      - do: [noop]\n", False, 'unknown-task@8', "parity"),
    ("next_when_null", HT + T + "    next:\n      - when: ~\n        do: [b]\n" + B, True, None, "parity"),
    ("next_publish_map", HT + T + "    next:\n      - publish: {x: 1}\n", False, None, "legacy"),
    ("publish_two_keys", HT + T + "    next:\n      - publish: [{x: 1, y: 2}]\n", True, None, "parity"),
    ("publish_key", HT + T + "    next:\n      - publish: [x]\n", True, None, "parity"),
    ("publish_dash_name", HT + T + "    next:\n      - publish: [{my-x: 1}]\n", True, None, "parity"),
    ("on_success_list", HT + T + "    on_success: [b]\n" + B, False, None, "legacy"),
    ("on_success_unknown", HT + T + "    on_success: c\n" + B, False, 'unknown-task@7', "parity"),
    ("next_and_on_success", HT + T + "    next:\n      - do: [b]\n    on_success: c\n" + B + "  - name: c\n    action: core.echo\n", True, "legacy-ignored@9", "strict"),
    ("decision_default_string", HT + T + "    decision:\n      - when: '{{ true }}'\n        next: b\n      - default: c\n" + B + "  - name: c\n    action: core.echo\n", False, None, "legacy"),
    ("decision_two_defaults", HT + T + "    decision:\n      - default: true\n        next: b\n      - default: true\n        next: b\n" + B, True, None, "parity"),
    ("decision_no_when", HT + T + "    decision:\n      - next: b\n" + B, True, 'required@8', "strict"),
    ("decision_no_next", HT + T + "    decision:\n      - when: '{{ true }}'\n" + B, False, 'required@8', "parity"),
    ("join_all", HT + T + "    on_success: b\n" + B + "    join: all\n", False, None, "legacy"),
    ("join_zero", HT + T + "    on_success: b\n" + B + "    join: 0\n", True, 'join-invalid@10', "strict"),
    ("join_negative", HT + T + "    on_success: b\n" + B + "    join: -1\n", False, 'join-invalid@10', "parity"),
    ("duplicate_task", HT + T + T, False, 'duplicate-task@7', "parity"),
    ("reserved_name", HT + "  - name: item\n    action: core.echo\n", False, 'reserved-task-name@5', "parity"),
    ("reserved_subtask", HT + "  - name: p\n    type: parallel\n    tasks:\n      - name: item\n        action: core.echo\n", True, 'reserved-task-name@8', "strict"),
    ("unreachable", HT + T + "  - name: c\n    action: core.echo\n    on_success: d\n  - name: d\n    action: core.echo\n    on_success: c\n", False, 'unreachable-task@7', "parity"),
    ("no_entry", HT + T + "    on_success: b\n" + B + "    on_success: a\n", True, 'no-entry-task@5', "strict"),
    ("action_no_dot", HT + "  - name: a\n    action: echo\n", False, 'action-format@6', "parity"),
    ("action_trailing_dot", HT + "  - name: a\n    action: core.\n", False, 'action-format@6', "parity"),
    ("action_upper", HT + "  - name: a\n    action: Core.Echo\n", True, 'action-format@6', "strict"),
    ("action_template", H + "vars: {x: core.echo}\ntasks:\n  - name: a\n    action: '{{ x }}'\n", False, 'action-format@7', "parity"),
    ("action_inline_params", HT + "  - name: a\n    action: core.local cmd=ls\n", True, 'action-format@6', "strict"),
    ("vars_list", H + "vars:\n  - x: 1\ntasks:\n" + T, False, None, "legacy"),
    ("var_dash", H + "vars:\n  my-var: 1\ntasks:\n" + T, True, None, "parity"),
    ("var_space", H + "vars:\n  my var: 1\ntasks:\n" + T, False, 'variable-name@5', "parity"),
    ("var_dot", H + "vars:\n  a.b: 1\ntasks:\n" + T, False, 'variable-name@5', "parity"),
    ("var_digit", H + "vars:\n  2nd: 1\ntasks:\n" + T, True, None, "parity"),
    ("var_unicode", H + "vars:\n  café: 1\ntasks:\n" + T, True, None, "parity"),
    ("params_flat", H + "parameters:\n  host: {type: string, required: true}\ntasks:\n" + T, False, None, "legacy"),
    ("params_no_type", H + "parameters:\n  properties:\n    host: {type: string}\ntasks:\n" + T, False, 'schema-type@5', "parity"),
    ("params_list", H + "parameters: [a]\ntasks:\n" + T, False, 'wrong-type@4', "parity"),
    ("params_ok", H + "parameters:\n  type: object\n  properties:\n    host: {type: string}\ntasks:\n" + T, True, None, "parity"),
    ("output_no_type", H + "output:\n  properties:\n    x: {type: string}\ntasks:\n" + T, False, 'schema-type@5', "parity"),
    ("output_map_int", H + "output_map:\n  x: 1\ntasks:\n" + T, True, None, "parity"),
    ("output_map_list", H + "output_map:\n  - x: '{{ 1 }}'\ntasks:\n" + T, False, None, "legacy"),
    ("tags_string", H + "tags: x\ntasks:\n" + T, False, 'invalid-value@4', "parity"),
    ("tags_int", H + "tags: [1]\ntasks:\n" + T, True, 'wrong-type@4', "strict"),
    ("cancel_bad", H + "cancellation_policy: stop\ntasks:\n" + T, False, 'invalid-value@4', "parity"),
    ("unknown_top_key", H + "foo: 1\ntasks:\n" + T, True, 'unknown-key@4', "strict"),
    ("unknown_task_key", HT + T + "    on_sucess: b\n" + B, True, 'unknown-key@7', "strict"),
    ("duplicate_yaml_key", HT + T + "    action: core.local\n", False, 'duplicate-key@7', "parity"),
    ("sub_unknown_target", HT + "  - name: p\n    type: parallel\n    tasks:\n      - name: s\n        action: core.echo\n        on_success: a\n  - name: a\n    action: core.echo\n", False, 'unknown-task@10', "parity"),
    ("sub_no_action", HT + "  - name: p\n    type: parallel\n    tasks:\n      - name: s\n", False, 'missing-action@8', "parity"),
    ("perm_int", HT + T + "    permission_set_refs: 5\n", True, 'invalid-value@7', "strict"),
    ("enabled_key", H + "enabled: false\ntasks:\n" + T, True, None, "parity"),
    ("name_key", H + "name: x\ntasks:\n" + T, True, None, "parity"),
    ("chart_meta", HT + T + "    __chart_meta__: {x: 1}\n", True, None, "parity"),
    ("with_items_no_items_conc", HT + T + "    concurrency: 0\n", True, None, "parity"),    ("output_map_map_value", H + "output_map: {x: {y: 1}}\ntasks:\n" + T, False, "attune-unsupported@4", "parity"),
    ("worker_selector_template", HT + T + "    worker_selector: '{{ parameters.sel }}'\n", True, None, "parity"),
    ("null_input", HT + T + "    input: ~\n", False, "wrong-type@7", "parity"),
    ("null_type", HT + T + "    type: ~\n", False, "wrong-type@7", "parity"),
    ("null_action", HT + "  - name: a\n    action: ~\n", False, "missing-action@5", "parity"),
    ("null_timeout", HT + T + "    timeout: ~\n", True, None, "parity"),
    ("ref_empty", "ref: ''\nlabel: Case\nversion: '1.0'\ntasks:\n" + T, False, "ref-mismatch@1", "parity"),
    ("retry_count_str", HT + T + "    retry: {count: '3', delay: 1}\n", False, "retry-count@7", "parity"),
    ("retry_max_delay_float", HT + T + "    retry: {count: 1, delay: 1, max_delay: 2.5}\n", False, "retry-max-delay@7", "parity"),
    ("top_to_sub_target", HT + "  - name: p\n    type: parallel\n    tasks:\n      - name: s\n        action: core.echo\n    on_success: s\n", False, "unknown-task@10", "parity"),
    ("with_items_empty_list", HT + T + "    with_items: []\n", False, "with-items@7", "parity"),
    ("with_items_plain", HT + T + "    with_items: hosts\n", True, "with-items@7", "strict"),
    ("parallel_with_action", HT + "  - name: p\n    type: parallel\n    action: core.echo\n    tasks:\n      - name: s\n        action: core.echo\n", True, "parallel-rules@7", "strict"),
    ("join_too_big", HT + T + "    on_success: b\n" + B + "    join: 3\n", True, "join-count@10", "strict"),
    ("dup_top_sub", HT + "  - name: p\n    type: parallel\n    tasks:\n      - name: p\n        action: core.echo\n", True, "duplicate-task@8", "strict"),
    ("name_int", HT + "  - name: 5\n    action: core.echo\n", True, "invalid-value@5", "strict"),
]  # fmt: skip
KINDS = {"parity", "legacy", "spec", "strict"}


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("parity")
    (base / "demo" / "workflows").mkdir(parents=True)
    (base / "demo" / "pack.yaml").write_text("ref: demo\nlabel: Demo\nversion: 1.0.0\n")
    for name, text, *_ in CASES:
        (base / "demo" / "workflows" / f"{name}.yaml").write_text(text.replace("{id}", name))
    return base


@pytest.fixture(scope="module")
def first_errors(pack: Path) -> dict[str, str | None]:
    report = check_targets(pack, ["demo"], max_file_size=1 << 20)
    out: dict[str, str | None] = {name: None for name, *_ in CASES}
    for diag in report.diagnostics:
        name = Path(diag.file).stem
        if diag.is_error and out.get(name, "") is None:
            out[name] = f"{diag.code}@{diag.line}"
    return out


def test_table_is_consistent() -> None:
    """The kind explains every disagreement, and only disagreements."""
    assert len({c[0] for c in CASES}) == len(CASES)
    for name, _, attune_ok, expect, kind in CASES:
        assert kind in KINDS, name
        agree = attune_ok == (expect is None)
        assert agree == (kind == "parity"), name
        if kind == "legacy" or kind == "spec":
            assert not attune_ok and expect is None, name
        if kind == "strict":
            assert attune_ok and expect is not None, name


@pytest.mark.parametrize(("name", "expect"), [(c[0], c[3]) for c in CASES])
def test_packsync_verdict(
    first_errors: dict[str, str | None], name: str, expect: str | None
) -> None:
    assert first_errors[name] == expect


@requires_kit
def test_recorded_attune_verdicts(pack: Path) -> None:
    paths = [pack / "demo" / "workflows" / f"{name}.yaml" for name, *_ in CASES]
    verdicts = check_load(paths)
    got = {name: ok for (name, *_), (ok, _) in zip(CASES, verdicts, strict=True)}
    assert got == {name: attune_ok for name, _, attune_ok, *_ in CASES}
