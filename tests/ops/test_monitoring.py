"""Prometheus rules and the Grafana dashboard, checked against what the daemon
really exports and with promtool (unit tests of every alert) when installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.ops import (
    DEPLOY,
    REPO,
    exported_names,
    load_yaml,
    markdown_anchors,
    need_tool,
    promql_metric_names,
    run,
)

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts_test.yaml"
DASHBOARD = DEPLOY / "grafana" / "packsync-dashboard.json"
PROMTOOL_HINT = "Debian package prometheus; .ci/run installs it"
SCRAPE_JOBS = {"packsync", "packsync-pods"}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def dashboard_queries() -> list[str]:
    exprs = []
    for panel in dashboard()["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    return exprs


def _known(name: str, exported: set[str]) -> bool:
    return name in exported or name == "up"


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.9, sum by (le) (rate(packsync_sync_duration_seconds_bucket"
        '{job=~"$job"}[$__rate_interval]))) and on (job) up{job="x"} == 1'
    )
    assert promql_metric_names(expr) == {"packsync_sync_duration_seconds_bucket", "up"}


def test_every_alert_has_severity_runbook_and_real_metrics() -> None:
    exported = exported_names()
    anchors = markdown_anchors(REPO / "docs" / "operations.md")
    rules = alert_rules()
    assert len(rules) >= 10
    names = {r["alert"] for r in rules}
    assert {"PacksyncMassDeleteRefused", "PacksyncAllTargetsDown", "PacksyncNoLeader"} <= names
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert (REPO / path).is_file(), url
        assert anchor == rule["alert"].lower() and anchor in anchors, f"no runbook section {url}"
        used = promql_metric_names(rule["expr"])
        assert used, rule["alert"]
        unknown = {n for n in used if not _known(n, exported)}
        assert not unknown, f"{rule['alert']} uses metrics the daemon does not export: {unknown}"


def test_all_targets_down_uses_absent_over_the_scrape_jobs() -> None:
    rule = next(r for r in alert_rules() if r["alert"] == "PacksyncAllTargetsDown")
    assert rule["expr"] == 'absent(up{job=~"packsync.*"} == 1)'
    scrape = load_yaml(DEPLOY / "prometheus" / "scrape.yaml")
    assert all(job["job_name"].startswith("packsync") for job in scrape["scrape_configs"])


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = load_yaml(ALERT_TESTS)
    assert cases["rule_files"] == [ALERTS.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in cases["tests"]:
        for check in test.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = need_tool("promtool", PROMTOOL_HINT)
    check = run([promtool, "check", "rules", str(ALERTS)])
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in check.stdout
    tested = run([promtool, "test", "rules", str(ALERT_TESTS)])
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout and "FAILED" not in tested.stdout


def test_promtool_accepts_the_scrape_config_with_the_rules(tmp_path: Path) -> None:
    """scrape.yaml plus alerts.yaml as one Prometheus config. Debian's promtool
    is built without Kubernetes discovery: there the pod job is left out."""
    promtool = need_tool("promtool", PROMTOOL_HINT)
    config = load_yaml(DEPLOY / "prometheus" / "scrape.yaml")
    config["rule_files"] = [str(ALERTS)]
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    checked = run([promtool, "check", "config", str(path)])
    if "kubernetes_sd_configs not found" in checked.stdout + checked.stderr:
        config["scrape_configs"] = [
            job for job in config["scrape_configs"] if "kubernetes_sd_configs" not in job
        ]
        path.write_text(json.dumps(config))
        checked = run([promtool, "check", "config", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


# -- Grafana ---------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard_with_a_datasource_variable() -> None:
    dash = dashboard()
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    assert dash["uid"] and dash["title"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
    for name in ("job", "instance"):
        assert variables[name]["datasource"]["uid"] == "${datasource}"


def test_dashboard_queries_use_only_exported_metrics() -> None:
    exported = exported_names()
    used: set[str] = set()
    for expr in dashboard_queries():
        names = promql_metric_names(expr)
        assert names, expr
        unknown = {n for n in names if not _known(n, exported)}
        assert not unknown, f"{expr}: the daemon does not export {unknown}"
        used |= names
    # what the dashboard must show (issue 13)
    for wanted in (
        "packsync_sync_runs_total",
        "packsync_sync_duration_seconds_bucket",
        "packsync_workflows",
        "packsync_packs",
        "packsync_invalid_files",
        "packsync_pending_packs",
        "packsync_db_up",
        "packsync_leader",
        "packsync_reconcile_drift_total",
        "packsync_watcher_polling",
        "packsync_mass_delete_refused",
    ):
        assert wanted in used, f"dashboard has no panel on {wanted}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana's variables filled in) as a recording rule."""
    promtool = need_tool("promtool", PROMTOOL_HINT)
    rules = []
    for i, expr in enumerate(dashboard_queries()):
        concrete = (
            expr.replace("$__rate_interval", "2m").replace("$job", ".*").replace("$instance", ".*")
        )
        rules.append({"record": f"dashboard:query_{i}", "expr": concrete})
    path = tmp_path / "dashboard_rules.yaml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = run([promtool, "check", "rules", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
