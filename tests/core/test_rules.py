"""The shared rules of core/, each defined once and used by every layer."""

from __future__ import annotations

import pytest

from packsync.core.diagnostics import error
from packsync.core.identifiers import check_identifier, is_identifier
from packsync.core.refs import PACK_REF, pack_ref_message
from packsync.core.results import PackResult, WorkflowResult
from packsync.core.secrets import mask_url
from packsync.core.storable import MAX_DEPTH, text_problem, unstorable
from packsync.core.text import printable


@pytest.mark.parametrize(
    ("ref", "ok"),
    [("ops", True), ("a1", True), ("my-pack_2", True), ("a", False), ("Ops", False),
     ("1ops", False), ("../x", False), ("ops.x", False), ("", False)],
)  # fmt: skip
def test_pack_refs_follow_attunes_check(ref: str, ok: bool) -> None:
    assert bool(PACK_REF.match(ref)) is ok


def test_the_pack_ref_message_names_the_value_and_the_rule() -> None:
    message = pack_ref_message("Bad", "pack folder name")
    assert message.startswith("pack folder name 'Bad' is not a valid pack ref")
    assert "at least 2 characters" in message


def test_unstorable_values_are_found_with_their_path() -> None:
    assert unstorable({"a": [1, "fine", {"b": "x\x00y"}]}) == ("$.a[2].b", "a NUL character (\\0)")
    assert unstorable({"n": float("nan")}) == (
        "$.n",
        "a number that is not finite (NaN or Infinity)",
    )
    assert unstorable({"k\ud800": 1})[1].startswith("a key with an unpaired")  # type: ignore[index]
    deep: object = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    assert unstorable(deep) is not None and unstorable({"ok": [[["x"]]]}) is None
    assert text_problem("plain") is None


def test_url_passwords_are_masked_wherever_they_stand() -> None:
    text = "cannot reach postgresql://app:s3cret@db:5432/attune (and redis://:pw@cache)"
    masked = mask_url(text)
    assert "s3cret" not in masked and "pw@" not in masked
    assert "postgresql://app:***@db:5432/attune" in masked


def test_sql_identifiers() -> None:
    assert is_identifier("packsync_state") and not is_identifier('x"; drop')
    assert not is_identifier("a" * 64)
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        check_identifier("Upper")


def test_printable_text_never_breaks_a_line() -> None:
    assert printable("a\nb\x7f") == "a\\x0ab\\x7f"
    assert printable("caf\udce9") == "caf\\xe9"


def test_pack_result_counts_are_derived_from_its_workflows() -> None:
    result = PackResult(
        "demo",
        workflows=[
            WorkflowResult("demo.a", "workflows/a.yaml", "created"),
            WorkflowResult("demo.b", "workflows/b.yaml", "failed"),
            WorkflowResult("demo.c", "workflows/c.yaml", "created"),
        ],
    )
    assert (result.created, result.failed, result.updated) == (2, 1, 0)
    assert result.to_dict()["created"] == 2 and result.changed
    refused = PackResult.in_error("demo", "/p", "pack-busy", "busy", outcome="refused")
    assert refused.diagnostics == [error("/p", "pack-busy", "busy")]
    assert refused.outcome == "refused" and refused.has_errors is True
