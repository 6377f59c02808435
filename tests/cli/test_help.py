"""Every command explains itself: a description, each option's env variable and
default, examples; shell completion; docs/cli.md is the parser's own text."""

from __future__ import annotations

import pytest

from packsync.cli.main import build_parser
from packsync.cli.reference import _subcommands, render_reference
from tests.cli.test_commands import packsync
from tests.support.paths import REPO

DOCS = REPO / "docs" / "cli.md"
COMMANDS = sorted(_subcommands(build_parser()))


def test_every_command_is_listed() -> None:
    assert {"run", "sync", "validate", "list", "count", "delete", "migrate", "schema"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_a_description_and_an_example(command: str) -> None:
    sub = _subcommands(build_parser())[command]
    text = sub.format_help()
    assert sub.description and len(sub.description) > 30
    assert "examples:\n  packsync " in text


@pytest.mark.parametrize(
    ("command", "env"),
    [
        ("sync", "ATTUNE__DATABASE_URL"),
        ("sync", "ATTUNE__PACKS_BASE_DIR"),
        ("run", "ATTUNE__HTTP__PORT"),
        ("validate", "ATTUNE__CONFIG_FILE"),
    ],
)
def test_options_name_their_env_variable(command: str, env: str) -> None:
    assert env in _subcommands(build_parser())[command].format_help().replace("\n", " ")


def test_validate_offers_no_database_options() -> None:
    text = _subcommands(build_parser())["validate"].format_help()
    assert "--database-url" not in text and "--no-migrate" not in text


def test_completion_script_knows_the_commands() -> None:
    proc = packsync("completion", "bash")
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout and all(c in proc.stdout for c in COMMANDS)


def test_docs_cli_page_is_the_parser_text() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_reference(), (
        "docs/cli.md is stale: python -m packsync.cli.reference > docs/cli.md"
    )
