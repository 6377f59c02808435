"""The JSON Schema of the workflow format accepts every valid spelling and rejects unknown keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from packsync.schema import workflow_json_schema
from tests.pipeline.test_normalise import SPELLINGS
from tests.support.paths import EXAMPLES

VALIDATOR = Draft202012Validator(workflow_json_schema())


def _errors(data: Any) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(data)]


def test_schema_is_valid_draft_2020_12() -> None:
    schema = workflow_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert workflow_json_schema() is not schema  # fresh copy per call


def _example_workflows() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*/**/workflows/*.y*ml"))


def test_there_are_example_workflows() -> None:
    assert len(_example_workflows()) >= 3


@pytest.mark.parametrize("path", _example_workflows(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_accepts_example_workflows(path: Path) -> None:
    assert _errors(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("name", list(SPELLINGS))
def test_accepts_every_spelling(name: str) -> None:
    assert _errors(yaml.safe_load(SPELLINGS[name])) == []


GOOD_TASK = {"name": "a", "action": "core.echo"}
BAD: dict[str, dict[str, Any]] = {
    "unknown-top-key": {"version": "1", "tasks": [GOOD_TASK], "inputs": {}},
    "missing-version": {"tasks": [GOOD_TASK]},
    "missing-tasks": {"version": "1"},
    "empty-tasks": {"version": "1", "tasks": []},
    "empty-task-map": {"version": "1", "tasks": {}},
    "unknown-task-key": {"version": "1", "tasks": [{**GOOD_TASK, "on_sucess": "b"}]},
    "task-without-name-in-list": {"version": "1", "tasks": [{"action": "core.echo"}]},
    "unknown-transition-key": {"version": "1", "tasks": [{**GOOD_TASK, "next": [{"doo": "b"}]}]},
    "unknown-legacy-item-key": {
        "version": "1",
        "tasks": [{**GOOD_TASK, "on_success": [{"when": "x", "goto": "b"}]}],
    },
    "unknown-retry-key": {
        "version": "1",
        "tasks": [{**GOOD_TASK, "retry": {"count": 1, "dealy": 2}}],
    },
    "retry-count-zero": {"version": "1", "tasks": [{**GOOD_TASK, "retry": {"count": 0}}]},
    "retry-backoff": {"version": "1", "tasks": [{**GOOD_TASK, "retry": {"backoff": "random"}}]},
    "concurrency-too-high": {"version": "1", "tasks": [{**GOOD_TASK, "concurrency": 101}]},
    "batch-size-big": {"version": "1", "tasks": [{**GOOD_TASK, "batch_size": 1001}]},
    "bad-type": {"version": "1", "tasks": [{**GOOD_TASK, "type": "sequential"}]},
    "bad-action-ref": {"version": "1", "tasks": [{**GOOD_TASK, "action": "Core/echo"}]},
    "bad-cancellation-policy": {
        "version": "1",
        "tasks": [GOOD_TASK],
        "cancellation_policy": "stop",
    },
    "enabled-not-bool": {"version": "1", "tasks": [GOOD_TASK], "enabled": "yes"},
    "join-zero": {"version": "1", "tasks": [{**GOOD_TASK, "join": 0}]},
    "vars-not-map": {"version": "1", "tasks": [GOOD_TASK], "vars": "x"},
}


@pytest.mark.parametrize("name", list(BAD))
def test_rejects_bad_workflows(name: str) -> None:
    assert _errors(BAD[name]), name


def test_chart_meta_and_hyphens_accepted() -> None:
    data = {
        "version": "1",
        "output-map": {"x": 1},
        "tasks": {
            "a": {
                "action": "core.echo",
                "with-items": [1],
                "batch-size": 2,
                "__chart_meta__": {"x": 1},
                "on-success": [{"when": "{{ x }}", "do": "b", "__chart_meta__": {}}],
            }
        },
    }
    assert _errors(data) == []
