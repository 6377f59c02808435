"""Docs that stay true: the configuration reference is generated from the
settings model, the metrics reference lists what /metrics carries, and the
install and pre-commit instructions name nothing that does not exist."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml
from prometheus_client.parser import text_string_to_metric_families

from packsync import configref
from packsync.config import Settings
from packsync.metrics import Metrics
from tests.support.ops import REPO, load_yaml

# `pip install attune-packsync` (from an index), not `... attune-packsync @ git+...`
FROM_INDEX = re.compile(r"pip install\s+['\"]?attune-packsync(?!\s*@)['\"]?(\s|$)")
REGENERATE = ".venv/bin/python -m packsync.configref > docs/configuration.md"


def test_every_setting_has_a_meaning() -> None:
    missing = [
        name for name, field in configref.settings_fields() if not configref.meaning(name, field)
    ]
    assert not missing, (
        f"settings without a description: {missing}; give the field a "
        "Field(description=...) or add it to packsync.configref.MEANINGS"
    )


def test_configuration_reference_matches_the_settings_model() -> None:
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == configref.render(), f"docs/configuration.md is stale: run `{REGENERATE}`"


def test_reference_lists_every_setting_with_its_env_name() -> None:
    page = configref.render()
    names = [name for name, _ in configref.settings_fields()]
    assert set(Settings.model_fields) <= {n.split(".")[0] for n in names}
    for name in names:
        env = "ATTUNE__" + name.replace(".", "__").upper()
        assert f"| `{name}` | `{env}` |" in page
    assert "`0.5`" in page and "`/opt/attune/packs`" in page


def test_configref_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "packsync.configref"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == configref.render()


def test_metrics_reference_lists_every_exported_family() -> None:
    section = (REPO / "docs" / "daemon.md").read_text(encoding="utf-8").split("## Metrics", 1)[1]
    section = section.split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:packsync|process)_[a-z_]+)`", section))
    families = text_string_to_metric_families(Metrics("0").render().decode())
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert exported - documented == set(), "metrics missing from docs/daemon.md, Metrics"
    assert documented - exported == set(), "docs/daemon.md documents metrics that do not exist"


def test_no_install_from_a_package_index_that_lacks_packsync() -> None:
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        assert not FROM_INDEX.search(text), page.name


def test_pre_commit_instructions_use_a_hook_that_exists_and_no_phantom_tag() -> None:
    hooks = {h["id"]: h for h in load_yaml(REPO / ".pre-commit-hooks.yaml")}
    guide = (REPO / "docs" / "editor-and-ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n((?:#[^\n]*\n)?repos:.*?)```", guide, re.S)
    assert len(blocks) == 2
    for block in blocks:
        (repo,) = yaml.safe_load(block)["repos"]
        (hook,) = repo["hooks"]
        assert hook["id"] in hooks
        if repo["repo"] == "local":
            assert hook["files"] == hooks[hook["id"]]["files"]
            assert hook["entry"] == hooks[hook["id"]]["entry"]
        else:
            assert re.fullmatch(r"[0-9a-f]{40}", str(repo["rev"])), "rev: must be a commit SHA"
    assert "v0.1.0" not in guide and "v0.1.0" not in (REPO / ".pre-commit-hooks.yaml").read_text()
